"""The full-size bench's one-off products, each made once in a fresh process and watched: the stand-in (or the
real model, --model-id), its exports through phi3nb.export_model, its Q4_K_M GGUF; with what each cost (wall
time, peak memory file-backed vs anonymous, peak disk), kept beside them and reused with them."""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..memwatch import DiskWatcher, MemorySampler, tree_bytes

WORKER = "phi3nb.bench.full_size.worker"
GGUF_TYPE = "Q4_K_M"
LLAMA = f"llama.cpp-{GGUF_TYPE}"


def _log(msg):
    print(msg, flush=True)


def watched(job, disk_paths=(), env=None) -> dict:
    """Run a fullsize_worker step in a fresh process (its output shown), watched from here: wall time,
    peak memory (memwatch.MemorySampler) and the peak disk added under `disk_paths`."""
    with tempfile.TemporaryDirectory(prefix="phi3nb-fullsize-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job, default=str))
        disk = DiskWatcher(disk_paths).start()
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", WORKER, str(job_path), str(out_path)], env=env)
        sampler = MemorySampler(proc.pid, interval=0.5).start()
        rc = proc.wait()
        wall = time.perf_counter() - start
        memory, used = sampler.stop(), disk.stop()
        result = json.loads(out_path.read_text()) if out_path.exists() else {"error": f"worker exited with {rc}"}
    peak = {k: memory[k] for k in ("hwm_mb", "peak_source")}  # hwm_mb: the OS's peak or the largest sample
    return {**result, "wall_s": wall, "memory": {**(memory["all"] or {}), **peak}, "disk": used}


class Records:
    """The one-off measurements (stand-in, exports, GGUF), kept beside what they measured and reused with it."""

    def __init__(self, root):
        self.path = Path(root) / "measured.json"
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def get(self, key, reused_note):
        rec = self.data.get(key)
        return {**rec, "reused": True} if rec else {"reused": True, "note": reused_note}

    def put(self, key, rec, cpu):
        rec = {**rec, "measured_on": datetime.date.today().isoformat(), "cpu": cpu, "reused": False}
        self.data[key] = rec
        self.path.write_text(json.dumps(self.data, indent=2, default=str))
        return rec



def work_root(args) -> Path:
    from phi3nb.export.paths import cache_dir

    base = Path(args.work_dir).expanduser() if args.work_dir else cache_dir() / "bench"
    if not args.model_id:
        return base / "full-size" / "phi3-mini-standin"
    return base / "full-size" / (re.sub(r"[^A-Za-z0-9._-]+", "_", str(args.model_id)).strip("_") or "model")


def resolve_model_id(model_id) -> Path:
    """A local folder as it is; a hub id downloaded (weights, configs, tokenizer; no repository code)."""
    from phi3nb.errors import Phi3nbError

    local = Path(model_id).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise Phi3nbError(f"{local} has no config.json: pass a Hugging Face model folder or id to --model-id.")
        return local.resolve()
    from huggingface_hub import snapshot_download

    _log(f"[bench] downloading {model_id} (into the Hugging Face cache)...")
    try:
        return Path(snapshot_download(model_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja",
                                                                 "*.txt"]))
    except Exception as e:  # noqa: BLE001 - offline, typo, gated: all need the same advice
        raise Phi3nbError(f"Cannot download {model_id!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}): check "
                          "the id and the connection, or pass a local folder to --model-id.") from None


def export_current(out, hf_dir, preset) -> bool:
    """True if `out` already holds `hf_dir` exported with `preset` (the flags export_model would use)."""
    from transformers import AutoConfig

    from phi3nb.export.convert import export_done
    from phi3nb.export.options import export_flags
    from phi3nb.export.source_config import effective_group_size

    flags = dict(preset)
    if flags["weight_format"] == "int4":
        flags["group_size"] = effective_group_size(AutoConfig.from_pretrained(hf_dir), flags["group_size"])
    return export_done(out, str(hf_dir), export_flags(**flags))


def disk_needed(root, hf_dir, stand_in, presets, gguf_wanted) -> int:
    """Bytes the missing products and the largest step's temporary files will take (from the source's size:
    int4 exports ~0.4x it, Q4_K_M ~0.33x, and a step's temporary copy ~1x, the F16 GGUF or the export's IR)."""
    from phi3nb.export.fit import PHI3_MINI_PARAMS

    source = 2 * PHI3_MINI_PARAMS if stand_in and not (Path(hf_dir) / "config.json").exists() else 0  # bf16
    size = source or tree_bytes(hf_dir)
    need = source + sum(0.4 * size for name in presets if not (root / f"ov-{name}").exists())
    if gguf_wanted and not (root / f"{GGUF_TYPE.lower()}.gguf").exists():
        need += 0.33 * size
    return int(need + size)


def check_disk(root, need):
    from phi3nb.errors import Phi3nbError

    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        raise Phi3nbError(f"The full-size bench needs about {need / 1e9:.0f} GB free in {root} (the stand-in, its "
                          f"exports, the GGUF and one step's temporary files); there are {free / 1e9:.0f} GB. Free "
                          "space, or pass --work-dir on a larger disk.")


def prepare(args, root, presets, cpu, log=_log) -> dict:
    """The source, the exports and the GGUF (made and measured once, else reused), with their records."""
    from phi3nb.errors import Phi3nbError

    from ..backend_llamacpp import unavailable_reason
    from ...standins.phi3_random import PHI3_MINI_LAYERS, parameter_count

    records = Records(root)
    out = {"exports": {}}
    hf = resolve_model_id(args.model_id) if args.model_id else root / f"hf-{PHI3_MINI_LAYERS}l"
    llama_reason = unavailable_reason()
    gguf_wanted = not args.gguf and llama_reason is None
    check_disk(root, disk_needed(root, hf, not args.model_id, presets, gguf_wanted))
    if not args.model_id:
        if (hf / "config.json").exists():
            out["standin"] = records.get("standin", "written by an earlier run that kept no measurement")
        else:
            log(f"[bench] writing the full-size stand-in (random weights, Phi-3-mini-4k-instruct's config) in {hf}...")
            res = watched({"kind": "standin", "root": str(root)}, [root])
            if "error" in res:
                raise Phi3nbError(f"The stand-in could not be written ({res['error']}); its output is above. "
                                  f"Check the free memory and disk for {root}, or pass --work-dir elsewhere.")
            out["standin"] = records.put("standin", {**res, "size_mb": tree_bytes(hf) / 1e6}, cpu)
    out["hf_dir"], out["parameters"] = hf, parameter_count(hf)
    out["config"] = json.loads((hf / "config.json").read_text())

    tmp = root / "tmp"
    for name, preset in presets.items():
        target = root / f"ov-{name}"
        key = f"export-{name}"
        if not args.re_export and export_current(target, hf, preset):
            out["exports"][name] = {**records.get(key, "exported by an earlier run that kept no measurement: "
                                                       "--re-export measures it"), "model_dir": str(target)}
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"[bench] exporting with phi3nb.export_model, {name} flags {preset} (a fresh process, watched)...")
        job = {"kind": "export", "source": str(hf), "out": str(target), "preset": preset,
               "trust_remote_code": bool(args.trust_remote_code)}
        res = watched(job, [root], env={**os.environ, "TMPDIR": str(tmp)})  # its temporary files count as disk
        shutil.rmtree(tmp, ignore_errors=True)
        if "error" in res:
            out["exports"][name] = {"error": res["error"]}
            continue
        out["exports"][name] = records.put(key, {**res, "flags": preset, "final_mb": tree_bytes(target) / 1e6}, cpu)

    gguf = root / f"{GGUF_TYPE.lower()}.gguf"
    if args.gguf:
        out["gguf"] = {"path": str(Path(args.gguf).expanduser()), "note": "given with --gguf: not measured here"}
    elif llama_reason:
        out["gguf"] = {"error": llama_reason}
    elif gguf.exists() and not args.re_export:
        out["gguf"] = {**records.get("gguf", "written by an earlier run that kept no measurement"), "path": str(gguf)}
    else:
        gguf.unlink(missing_ok=True)
        log(f"[bench] writing the GGUF of the same weights and quantizing it to {GGUF_TYPE} (a fresh process)...")
        res = watched({"kind": "gguf", "hf_dir": str(hf), "out": str(gguf), "ftype": GGUF_TYPE}, [root])
        out["gguf"] = {"error": res["error"]} if "error" in res else records.put(
            "gguf", {**res, "path": str(gguf), "final_mb": tree_bytes(gguf) / 1e6}, cpu)
    return out
