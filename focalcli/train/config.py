"""Training configuration: one JSON file records every choice (data, model, losses, optimiser,
schedule, seed, steps). Unknown keys are errors so that a typo cannot silently change a run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from focalcli.train.data import DataConfig


@dataclass
class LossConfig:
    """Loss weights; ``quant_ramp`` = (start, end) steps over which quantisation is blended in.

    ``mel``, ``sc``, ``mag``: spectral terms; ``wave``: relative waveform L1 (phase-aware);
    ``pitch``: auxiliary pitch and voicing prediction from the decoder's input features, which
    makes the tokens carry the fundamental frequency (a training-only head, never exported,
    unless the decoder has a harmonic head, whose own f0 and voicing are then trained);
    ``pitch_teacher``: share of steps in which a harmonic decoder voices the target's pitch
    instead of its own prediction, so that it learns to use harmonics before its f0 is right.
    ``rung_groups``/``rung_probs`` (grouped quantizers only): random truncation, each batch item
    draws how many leading groups the decoder gets (e.g. ``[1, 2, 4]`` with ``[0.4, 0.3,
    0.3]``), the rest are zero codes; empty = always every group. Quantiser terms (commitment,
    bit balance, group entropy) are then averaged over the groups, each group on its own;
    ``cross_group_balance``: the bit-balance term decorrelates all bits of all groups at once
    instead, so that later groups do not repeat earlier ones.
    """

    mel: float = 1.0
    sc: float = 1.0
    mag: float = 1.0
    wave: float = 0.0
    pitch: float = 0.0
    pitch_teacher: float = 0.0
    commit: float = 0.1
    balance: float = 0.1
    balance_temperature: float = 0.1
    group_entropy: float = 0.0
    entropy_group: int = 4
    quant_ramp: tuple[int, int] = (0, 2000)
    rung_groups: list[int] = field(default_factory=list)
    rung_probs: list[float] = field(default_factory=list)
    cross_group_balance: bool = False
    fft_sizes: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    n_mels: list[int] = field(default_factory=lambda: [32, 64, 80, 128])


@dataclass
class GanConfig:
    """Optional adversarial fine-tuning with cheap discriminators (off by default).

    ``start_step``: first step with the GAN; ``every``: discriminator update period in steps;
    ``crop_seconds``: discriminators see a random sub-crop of this length.
    """

    enabled: bool = False
    start_step: int = 0
    every: int = 1
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7])
    mpd_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    stft_sizes: list[int] = field(default_factory=lambda: [512, 1024])
    stft_channels: int = 16
    crop_seconds: float = 0.5
    lr: float = 2e-4
    adv_weight: float = 1.0
    fm_weight: float = 2.0


@dataclass
class TeacherConfig:
    """Distillation from a pretrained, non-causal teacher (off while ``weight`` is 0).

    ``features``: folder of precomputed targets (``python -m focalcli.train.teachers.features``),
    one frame per token; ``weight``: loss weight; ``l1``/``cos``: shares of the L1 distance of
    standardised targets and of the cosine distance. A training-only head (a causal convolution
    of ``head_kernel`` frames, width ``head_dim``, then a linear layer; never exported) reads the
    decoder's input features, so the tokens must carry what the teacher knows. The target of
    token t is the teacher's frame t (no delay: the codec's latency is unchanged). For the first
    ``head_warmup`` steps only the head learns (the codec gets no distillation gradient), so
    that a random head does not push the tokens around.
    """

    features: str | None = None
    weight: float = 0.0
    l1: float = 1.0
    cos: float = 1.0
    head_dim: int = 256
    head_kernel: int = 3
    head_warmup: int = 0


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay to ``lr * min_lr_ratio`` at ``steps``.

    ``freeze``: parameter-name prefixes (e.g. ``"encoder"``, ``"compressor"``,
    ``"decoder.backbone"``) held fixed, for staged training: with the encoder and compressor
    frozen the tokens stay exactly those of the warm start while the decoder side learns.
    ``freeze_leading``: parameter name -> n, or -> [dim, n]: the first n rows (dim 0), or the
    first n entries along ``dim``, of that tensor held at their warm-start values (their
    gradient zeroed, and restored after each step so weight decay cannot move them), e.g.
    ``{"compressor.out_proj.weight": 12}`` keeps the first group's tokens those of a
    single-group warm start while the new groups' rows learn, and
    ``{"decompressor.in_proj.weight": [1, 12]}`` keeps its first 12 input columns.
    """

    lr: float = 1e-3
    encoder_lr_mult: float = 1.0
    freeze: list[str] = field(default_factory=list)
    freeze_leading: dict[str, int | list[int]] = field(default_factory=dict)
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0


@dataclass
class TrainConfig:
    """A whole run. ``model`` is a reference-schema codec config (``{role}_name/_config``).

    ``init_from``: a model to warm-start from; tensors that have grown get the source in their
    leading block and zeros elsewhere, except those under a prefix of ``init_random_growth``
    (e.g. ``"compressor.out_proj"``), whose new part keeps its fresh random initialisation.
    """

    name: str = "focal-small"
    seed: int = 0
    steps: int = 10000
    batch_size: int = 8
    threads: int = 2
    model: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    init_random_growth: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    log_every: int = 20
    checkpoint_minutes: float = 5.0
    snapshot_every: int = 2000
    licence: str = "CC-BY-4.0"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    nested = {"data": DataConfig, "loss": LossConfig, "optim": OptimConfig, "gan": GanConfig,
              "teacher": TeacherConfig}
    for key, value in values.items():
        if key in nested and cls is TrainConfig:
            kwargs[key] = _build(nested[key], value, f"{where}.{key}")
        elif isinstance(value, list) and key in {"quant_ramp", "betas", "level_db",
                                                  "noise_snr_db"}:
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | Path) -> TrainConfig:
    """Read a training config (JSON). ``model`` may be a dict or a path to a codec config.json."""
    path = Path(path)
    values = json.loads(path.read_text())
    model = values.get("model")
    if isinstance(model, str):
        model_path = Path(model)
        if not model_path.is_absolute():
            model_path = path.parent / model_path
        values["model"] = json.loads(model_path.read_text())
    cfg: TrainConfig = _build(TrainConfig, values, str(path))
    if not cfg.model:
        raise ValueError(f"{path}: 'model' (codec config) is required")
    return cfg
