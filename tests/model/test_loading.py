"""Finding and loading models: folders, config paths, .pt safety, the hub (faked locally)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model import ModelLoadError, list_models, load_codec
from focalcli.model.loading import apply_overrides, download
from focalcli.model.testing import save_tiny_model

REPO = "lucadellalib/focalcodec_50hz_4k_causal"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models"))


def fake_hub_cache(root: Path, repo: str, model: Path) -> Path:
    """A Hugging Face cache folder holding ``repo`` at revision main, as the hub client lays it."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(revision)
    snapshot = base / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(model / name, snapshot / name)
    return root


def test_folder_and_config_path_load_the_same_weights(tiny):
    a = load_codec(str(tiny))
    b = load_codec(str(tiny / "config.json"))
    assert a.weights_hash == b.weights_hash and len(a.weights_hash) == 16
    assert a.name == "tiny-test"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_config_path_with_pt_weights_beside_it(tiny, tmp_path):
    from safetensors.torch import load_file

    shutil.copy(tiny / "config.json", tmp_path / "mine.json")
    torch.save(load_file(str(tiny / "model.safetensors")), tmp_path / "mine.pt")
    codec = load_codec(str(tmp_path / "mine.json"))
    assert codec.name == "mine"


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/focal-pwned",))


def test_pickled_code_in_pt_is_never_run(tiny, tmp_path):
    shutil.copy(tiny / "config.json", tmp_path / "evil.json")
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelLoadError, match="evil.pt: cannot read weights"):
        load_codec(str(tmp_path / "evil.json"))
    assert not Path("/tmp/focal-pwned").exists()


def test_mismatched_weights_are_refused_in_one_line(tiny, tmp_path):
    config = json.loads((tiny / "config.json").read_text())
    config["decoder_config"]["ffn_dim"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny / "model.safetensors", tmp_path)
    with pytest.raises(ModelLoadError, match="do not fit") as e:
        load_codec(str(tmp_path))
    assert "\n" not in str(e.value)
    config["decoder_config"]["ffn_dim"] = 64
    config["quantizer_config"]["codebook_size"] = 1024
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="needs 10-dim latents"):
        load_codec(str(tmp_path))


def test_unknown_source_and_bad_json(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model"):
        load_codec("no-such-model")
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_codec(str(tmp_path))


def test_dotted_overrides(tiny):
    config = {"encoder_config": {"window_size": 16}}
    out = apply_overrides(config, {"encoder_config.window_size": 32, "decoder_config.dim": 8})
    assert out == {"encoder_config": {"window_size": 32}, "decoder_config": {"dim": 8}}
    assert config["encoder_config"]["window_size"] == 16
    codec = load_codec(str(tiny), overrides={"encoder_config.max_cached_steps": 0})
    assert codec.causal


HUB_SCRIPT = """
import sys
from focalcli.model import load_codec, list_models, ModelLoadError
try:
    codec = load_codec(sys.argv[1])
except ModelLoadError as e:
    print("ERROR", e)
else:
    present = [m.info.name for m in list_models()
               if m.present_locally and m.info.kind == "official"]
    print("OK", codec.name, codec.weights_hash, ",".join(present))
"""


def run_with_hub_cache(source: str, cache: Path) -> str:
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", HUB_SCRIPT, source], env=env,
                         capture_output=True, text=True, timeout=120)
    return out.stdout.strip() + out.stderr.strip()[-300:]


def test_official_name_and_hub_id_load_from_the_hub_cache(tiny, tmp_path):
    cache = fake_hub_cache(tmp_path / "hub", REPO, tiny)
    expected = load_codec(str(tiny)).weights_hash
    for source in ("focalcodec_50hz_4k_causal", REPO):
        out = run_with_hub_cache(source, cache)
        assert out == f"OK focalcodec_50hz_4k_causal {expected} focalcodec_50hz_4k_causal"


def test_offline_without_cache_says_how_to_load_from_a_folder(tmp_path):
    out = run_with_hub_cache("focalcodec_50hz_2k_causal", tmp_path / "empty")
    assert out.startswith("ERROR cannot download config.json of "
                          "lucadellalib/focalcodec_50hz_2k_causal")
    assert "focal decode --model ./folder IN.fcs" in out


def test_download_tries_the_cache_then_the_network(tiny, tmp_path, monkeypatch):
    """The hub client is replaced at the boundary by a server-free fake."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []

    def fake_hf_hub_download(repo_id, filename, local_files_only=False, **_):
        calls.append((repo_id, filename, local_files_only))
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        target = tmp_path / "dl" / repo_id / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny / filename, target)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hf_hub_download)
    config, weights = download("someone/some-codec")
    assert calls == [("someone/some-codec", "config.json", True),
                     ("someone/some-codec", "config.json", False),
                     ("someone/some-codec", "model.safetensors", True),
                     ("someone/some-codec", "model.safetensors", False)]
    codec = load_codec("someone/some-codec")
    assert codec.name == "some-codec"
    np.testing.assert_array_equal(weights.read_bytes(), (tiny / "model.safetensors").read_bytes())
    assert config.name == "config.json"


def test_list_models_knows_the_official_checkpoints():
    names = {m.info.name: m for m in list_models()}
    assert names["focalcodec_50hz_4k_causal"].info.bitrate_kbps == 0.6
    assert names["focalcodec_50hz_2k_causal"].info.bitrate_kbps == 0.55
    assert names["focalcodec_50hz_65k_causal"].info.latency_ms == 80.0
    assert names["focalcodec_50hz"].info.latency_ms is None
