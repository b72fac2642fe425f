"""What a walk measures, row by row: the records between the steps, and their JSON form (walk.json "rows")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Jump:
    """A step (frame ``step`` -> ``step`` + 1) larger than jump_factor x its walk's median step."""

    space: str
    step: int
    frames: list[int]
    segment: int      # which pair of points the step lies between
    distance: float
    ratio: float      # distance / the walk's median step


@dataclass
class WalkRow:
    """One walk: per space its step distances, sharpness and median step; its jumps; its latents' norms."""

    walk: int
    step_distance: dict[str, list[float]] = field(default_factory=dict)
    sharpness: dict[str, float] = field(default_factory=dict)
    median_step: dict[str, float] = field(default_factory=dict)
    jumps: list[Jump] = field(default_factory=list)
    latent_norm: dict[str, float] = field(default_factory=dict)
    seeds: list[int] | None = None

    def to_dict(self) -> dict:
        """walk.json's row (the keys it has always had; ``seeds`` once the walk's seeds are known)."""
        out = asdict(self)
        if self.seeds is None:
            del out["seeds"]
        return out
