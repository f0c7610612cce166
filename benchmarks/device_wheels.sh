#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with Python 3.12 x86-64 wheels of every package nbgrad and
# its GPU kit need that the lent GPU machine lacks (it has CuPy, PyTorch, numpy, pytest,
# hypothesis and more, but no IPython/Jupyter stack, and no internet).  Run here, where
# pip reaches the registry; the device command in benchmarks/gpu_check.py's docstring
# carries .whl and installs it with --no-index --no-deps into /tmp/site.
#
# pip resolves the whole dependency tree for the target (cp312, manylinux x86-64);
# wheels of packages the device image already holds are then removed, so nothing there
# is shadowed (numpy above all: CuPy is built against the device's own).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=.whl

# The device image's Python packages (KINDS.md, "Python packages already there").
DEVICE_HAS="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio
attrs botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax
e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx
optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp"

# nbgrad's dependencies (pyproject.toml) plus the kit's (jsonschema for the schema tests).
NEEDS="ipython>=8.10 ipywidgets>=8.1 ipykernel>=6.20 nbformat>=5.9 nbclient>=0.9 nbconvert>=7.10
jsonschema>=4.20"

platforms=()
for tag in manylinux_2_17 manylinux_2_24 manylinux_2_26 manylinux_2_27 manylinux_2_28 \
           manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done

rm -rf "$OUT"
mkdir -p "$OUT"
# shellcheck disable=SC2086
"$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$OUT" $NEEDS

normalise() { tr 'A-Z_.' 'a-z--'; }
for wheel in "$OUT"/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | normalise)
  for have in $DEVICE_HAS; do
    if [ "$name" = "$have" ]; then rm "$wheel"; break; fi
  done
done
ls "$OUT" | sed 's/-py.*//; s/-cp3.*//' | tr '\n' ' '; echo
du -sh "$OUT"
