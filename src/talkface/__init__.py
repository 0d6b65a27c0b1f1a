"""talkface: speech to talking-head video on an ordinary CPU."""
import os as _os

# Runtime settings measured in docs/notes (cpu_splatting.md): numba kernels only scale on the
# omp layer, and torch's spinning OpenMP threads must not steal our two cores. setdefault keeps
# a user's explicit choice.
_os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("GLOG_minloglevel", "2")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
