#!/usr/bin/env python
"""Build the zoo's model files from their architecture definitions, reproducibly.

    python model_zoo/build.py ID [ID ...] --out DIR     build some entries into DIR
    python model_zoo/build.py --all --update-manifest   rebuild everything: commit the small
                                                        files to model_zoo/models/ and rewrite
                                                        model_zoo/manifest.yaml

Every model is the real architecture (see `archs.py`) with random weights drawn from
numpy's PCG64 seeded by (SEED, arch name): latency does not depend on training.
Batch-norm statistics are random too, so folding them is not a no-op. int8 models are
fully integer-quantized (int8 input, output and every op) with the TFLite converter,
calibrated on seeded random inputs. fp32 ONNX files are translated from the fp32
TFLite file with `tflite_to_onnx.py` and checked against it numerically.

Needs the ``build`` extra (tensorflow-cpu). Downloads nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # same float results on every x86 CPU

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ZOO_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(ZOO_DIR))
sys.path.insert(0, str(ZOO_DIR.parent))

from archs import ARCHS, INPUT_RANGES, ArchSpec  # noqa: E402

from harness.digest import sha256_of  # noqa: E402

SEED = 20240229
CALIBRATION_SAMPLES = 16
COMMIT_LIMIT_BYTES = 5 * 1024 * 1024
MANIFEST = ZOO_DIR / "manifest.yaml"
COMMITTED_DIR = ZOO_DIR / "models"


def entry_ids(spec: ArchSpec) -> list[str]:
    ids = [f"{spec.arch}-fp32-tflite", f"{spec.arch}-int8-tflite"]
    return ids + ([f"{spec.arch}-fp32-onnx"] if spec.onnx else [])


def file_name(entry_id: str) -> str:
    arch, precision, fmt = entry_id.rsplit("-", 2)
    return f"{arch}-{precision}.{fmt}"


def sample_inputs(spec: ArchSpec, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng([SEED, seed, zlib.crc32(spec.arch.encode())])
    if spec.input_dist == "normal":
        return [rng.standard_normal(spec.input_shape).astype(np.float32) for _ in range(n)]
    lo, hi = INPUT_RANGES[spec.input_dist]
    return [rng.uniform(lo, hi, spec.input_shape).astype(np.float32) for _ in range(n)]


def set_random_weights(model, arch: str) -> None:
    """He-normal kernels, small biases, plausible batch-norm statistics; all from one
    seeded generator walked in layer order, so every platform gets the same weights."""
    rng = np.random.default_rng([SEED, zlib.crc32(arch.encode())])
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "Dense", "DepthwiseConv2D"):
            kernel = layer.kernel
            shape = tuple(kernel.shape)
            fan_in = int(np.prod(shape[:2])) if kind == "DepthwiseConv2D" else int(np.prod(shape[:-1]))
            weights = [rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)]
            if layer.use_bias:
                weights.append(rng.normal(0.0, 0.05, tuple(layer.bias.shape)))
            layer.set_weights([w.astype(np.float32) for w in weights])
        elif kind == "BatchNormalization":
            n = int(layer.moving_mean.shape[0])
            values = {"gamma": rng.uniform(0.7, 1.3, n), "beta": rng.normal(0.0, 0.1, n),
                      "moving_mean": rng.normal(0.0, 0.1, n), "moving_variance": rng.uniform(0.7, 1.3, n)}
            layer.set_weights([values[w.path.rsplit("/", 1)[-1]].astype(np.float32) for w in layer.weights])


def fold_batchnorm(model):
    """The same network with every BatchNormalization that directly follows a Conv2D,
    DepthwiseConv2D or Dense folded into that layer's kernel and bias — computed here in
    float64 numpy, so the deployed weights are the same bits on every machine (TF's own
    folding goes through Eigen's approximate rsqrt, whose last bits depend on the CPU)."""
    import keras
    from keras import layers

    folds = {}  # producer layer name -> its batch norm
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            producer = layer.input._keras_history.operation
            if (isinstance(producer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense))
                    and len(producer._outbound_nodes) == 1):
                folds[producer.name] = layer
    folded_bns = {bn.name for bn in folds.values()}

    class FoldedBatchNorm(layers.Layer):  # passes through; accepts BN's call arguments
        def call(self, inputs, training=None, mask=None):
            return inputs

    def clone(layer):
        if layer.name in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        config = layer.get_config()
        if layer.name in folds:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    deployed = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in folded_bns or not layer.weights:
            continue
        target = deployed.get_layer(layer.name)
        if layer.name not in folds:
            target.set_weights(layer.get_weights())
            continue
        bn = folds[layer.name]
        n = int(bn.moving_mean.shape[0])
        gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones(n)
        beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros(n)
        scale = gamma / np.sqrt(np.asarray(bn.moving_variance, np.float64) + bn.epsilon)
        kernel = np.asarray(layer.kernel, np.float64)
        bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(n)
        kernel = kernel * scale.reshape(kernel.shape[-2:]) if isinstance(layer, layers.DepthwiseConv2D) else kernel * scale
        bias = (bias - np.asarray(bn.moving_mean, np.float64)) * scale + beta
        target.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return deployed


def fresh_model(spec: ArchSpec):
    """The architecture with its seeded weights and batch norm folded, built in a clean
    Keras session: layer names (which become TFLite tensor names) restart from the same
    counters, so a file is byte-identical whether it is built alone or after others."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    model = spec.builder()
    set_random_weights(model, spec.arch)
    return fold_batchnorm(model)


def to_tflite(spec: ArchSpec, int8: bool) -> bytes:
    import keras
    import tensorflow as tf

    model = fresh_model(spec)
    # A batch-1 signature gives static shapes everywhere: Flatten becomes one RESHAPE
    # instead of SHAPE/STRIDED_SLICE/PACK/RESHAPE, as in deployed models (and TFLM).
    inputs = keras.Input(batch_shape=spec.input_shape, name="input")
    deployed = keras.Model(inputs, model(inputs), name="deployed")
    converter = tf.lite.TFLiteConverter.from_keras_model(deployed)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in sample_inputs(spec, CALIBRATION_SAMPLES, 1))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' "Saved artifact at ..." listing
        return converter.convert()


def build_arch(spec: ArchSpec, wanted: set[str], out_dir: Path) -> dict[str, Path]:
    """Build the wanted entries of one architecture into out_dir."""
    from tflite_to_onnx import check_onnx_matches_tflite, convert_tflite_to_onnx

    built: dict[str, Path] = {}
    fp32_id, int8_id, onnx_id = (f"{spec.arch}-fp32-tflite", f"{spec.arch}-int8-tflite",
                                 f"{spec.arch}-fp32-onnx")
    if wanted & {fp32_id, onnx_id}:
        path = out_dir / file_name(fp32_id)
        path.write_bytes(to_tflite(spec, int8=False))
        built[fp32_id] = path
        if onnx_id in wanted:
            onnx_path = out_dir / file_name(onnx_id)
            convert_tflite_to_onnx(path, onnx_path)
            check_onnx_matches_tflite(onnx_path, path, sample_inputs(spec, 2, 2))
            built[onnx_id] = onnx_path
    if int8_id in wanted:
        path = out_dir / file_name(int8_id)
        path.write_bytes(to_tflite(spec, int8=True))
        built[int8_id] = path
    return {k: v for k, v in built.items() if k in wanted}


def manifest_entry(entry_id: str, path: Path, spec: ArchSpec, committed: bool) -> dict:
    from harness.analysis.static import analyze

    a = analyze(path)
    arch, precision, fmt = entry_id.rsplit("-", 2)
    if (a.precision, a.format) != (precision, fmt):
        raise RuntimeError(f"{path} analyzes as {a.precision} {a.format}, not {precision} {fmt}")
    (inp,), (out,) = a.inputs, a.outputs
    return {
        "id": entry_id, "arch": arch, "task": spec.task, "format": fmt, "precision": precision,
        "input_shape": inp.shape, "input_dtype": inp.dtype,
        "output_shape": out.shape, "output_dtype": out.dtype,
        "file": (f"models/{path.name}" if committed else path.name),
        "storage": "repo" if committed else "cache",
        "size_bytes": path.stat().st_size, "sha256": sha256_of(path),
        "macs": a.macs, "params": a.params,
        "expected": {"macs": spec.expected_macs, "params": spec.expected_params,
                     "reference": spec.reference},
    }


def commit_it(spec: ArchSpec, entry_id: str, size: int) -> bool:
    if spec.build_on_demand:
        return False
    return size <= COMMIT_LIMIT_BYTES or (spec.commit_fp32 and "-fp32-" in entry_id)


class _ManifestDumper(yaml.SafeDumper):
    """Shapes on one line: ``input_shape: [1, 224, 224, 3]``."""


_ManifestDumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=all(isinstance(x, int) for x in v)))


def gguf_entries(out_dir: Path) -> list[dict]:
    """The random-weight GGUF LLMs (model_zoo/tiny_gguf.py), built on demand: their manifest rows."""
    import tiny_gguf

    return [tiny_gguf.manifest_entry(name, tiny_gguf.ensure(name, out_dir)) for name in tiny_gguf.names()]


def update_manifest(out_dir: Path) -> None:
    entries = []
    COMMITTED_DIR.mkdir(exist_ok=True)
    for spec in ARCHS.values():
        for entry_id in entry_ids(spec):
            path = out_dir / file_name(entry_id)
            committed = commit_it(spec, entry_id, path.stat().st_size)
            if committed:
                shutil.copyfile(path, COMMITTED_DIR / path.name)
                path = COMMITTED_DIR / path.name
            elif (COMMITTED_DIR / path.name).exists():
                (COMMITTED_DIR / path.name).unlink()
            entries.append(manifest_entry(entry_id, path, spec, committed))
            print(f"{entry_id}: {'committed' if committed else 'on demand'}, "
                  f"{entries[-1]['size_bytes']} bytes, {entries[-1]['macs']} MACs", flush=True)
    entries += gguf_entries(out_dir / "gguf")
    header = ("# Generated by `python model_zoo/build.py --all --update-manifest`; do not edit.\n"
              "# storage: repo = committed under model_zoo/, cache = built on demand by\n"
              "# `harness zoo build ID` into $HARNESS_ZOO_CACHE (default ~/.cache/harness/zoo).\n"
              "# macs/params: measured by harness.analysis on the file; expected: published figure.\n")
    body = yaml.dump({"seed": SEED, "models": entries}, Dumper=_ManifestDumper, sort_keys=False, width=100)
    MANIFEST.write_text(header + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="entry ids (<arch>-<precision>-<format>) or arch names")
    parser.add_argument("--all", action="store_true", help="build every entry")
    parser.add_argument("--out", type=Path, help="folder to write the files to")
    parser.add_argument("--update-manifest", action="store_true",
                        help="with --all: copy small files to model_zoo/models/ and rewrite manifest.yaml")
    parser.add_argument("--reuse", action="store_true",
                        help="keep files already in --out instead of rebuilding them")
    args = parser.parse_args(argv)

    known = {e: spec for spec in ARCHS.values() for e in entry_ids(spec)}
    wanted: set[str] = set(known) if args.all else set()
    for name in args.ids:
        if name in ARCHS:
            wanted.update(entry_ids(ARCHS[name]))
        elif name in known:
            wanted.add(name)
        else:
            parser.error(f"unknown zoo entry or architecture {name!r}")
    if not wanted:
        parser.error("name entries to build, or --all")
    if args.update_manifest and not args.all:
        parser.error("--update-manifest needs --all (the manifest lists every entry)")
    if not args.update_manifest and not args.out:
        parser.error("--out is required (or --all --update-manifest)")

    with tempfile.TemporaryDirectory(prefix="zoo-build-") as tmp:
        out_dir = args.out or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for spec in ARCHS.values():
            mine = wanted & set(entry_ids(spec))
            if args.reuse:
                mine = {e for e in mine if not (out_dir / file_name(e)).exists()}
            if not mine:
                continue
            print(f"building {spec.arch}: {', '.join(sorted(mine))}", flush=True)
            for entry_id, path in sorted(build_arch(spec, mine, out_dir).items()):
                print(f"  {entry_id}: {path} sha256={sha256_of(path)}", flush=True)
        if args.update_manifest:
            update_manifest(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
