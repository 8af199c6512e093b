"""Checks shared by the step-for-step parity tests against Sentence
Transformers (test_train_parity.sh, test_router_train.sh); Debian's python3
with numpy only. Each check appends its failures to a list `bad`."""

import json
import struct

import numpy as np


def safetensors(path):
    """{name: float64 array} from a float32 safetensors file."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            raise SystemExit(f"{path}: {k}: dtype {v['dtype']}")
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").astype(np.float64).reshape(v["shape"])
    return out


def rel(a, b, floor=0.0):
    return abs(a - b) / max(abs(b), floor) if max(abs(b), floor) > 0 else abs(a - b)


def check_log(log_path, steps, case, bad):
    """stc's log.jsonl against the reference's steps: the same steps and
    epochs, every step's loss (1e-5 relative), grad_norm (1e-4) and learning
    rates (1e-12; the number of param groups too). Prints the worst
    deviations."""
    log = [json.loads(l) for l in open(log_path)]
    if [r["step"] for r in log] != [s["step"] for s in steps]:
        bad.append(f"logged steps {[r['step'] for r in log]} != {[s['step'] for s in steps]}")
    worst = {"loss": (0, 0), "grad_norm": (0, 0), "lr": (0, 0)}

    def track(key, d, step):
        if d > worst[key][0]:
            worst[key] = (d, step)

    for r, s in zip(log, steps):
        st = s["step"]
        if r.get("loss") is None or r.get("grad_norm") is None:
            bad.append(f"step {st}: no loss/grad_norm in {r}")
            continue
        track("loss", rel(r["loss"], s["loss"]), st)
        track("grad_norm", rel(r["grad_norm"], s["grad_norm"]), st)
        track("lr", rel(r["learning_rate"], s["learning_rate"], 1e-300), st)
        if abs(r["epoch"] - s["epoch"]) > 1e-9:
            bad.append(f"step {st}: epoch {r['epoch']} != {s['epoch']}")
        lrs = r.get("learning_rates", [])
        if len(lrs) != len(s["learning_rates"]):
            bad.append(f"step {st}: {len(lrs)} param groups, Python has {len(s['learning_rates'])}")
        else:
            for a, b in zip(lrs, s["learning_rates"]):
                track("lr", rel(a, b, 1e-300), st)
    for key, tol in (("loss", 1e-5), ("grad_norm", 1e-4), ("lr", 1e-12)):
        d, st = worst[key]
        print(f"  {case}: {key}: worst relative deviation {d:.3g}" + (f" (step {st})" if d > 0 else ""))
        if d > tol:
            bad.append(f"{key} deviates {d:.3g} relative at step {st} (tolerance {tol:g})")
