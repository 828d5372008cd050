"""Each rule's good and bad examples: small factories, one parametrized test runs them all.

`files` writes checkpoints and ONNX files; `facts` builds the facts of live models, machines
and sessions. Rules import this package as `ex`; objects that package code also needs (an
offline predictor, trained-looking weights, calibrated BatchNorm, GPU-tagged storages) come
from `ocrdoctor.specimens` and are named here too.
"""

from ...specimens.files import storages_tagged  # noqa: F401
from ...specimens.models import calibrate_batchnorm, doctr_model, make_trained  # noqa: F401
from .facts import *  # noqa: F401,F403
from .facts import _healthy_cpu_box, _healthy_gpu_box  # noqa: F401
from .files import *  # noqa: F401,F403
