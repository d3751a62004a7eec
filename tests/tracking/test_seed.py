"""cairn.seed: every installed RNG seeded, recorded on the run, and training replayable."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.core.errors import InvalidInputError
from cairn.tracking import current_seed, seeded_libraries


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "42", True])
def test_bad_seeds_are_refused(bad: object) -> None:
    """A seed must be an integer from 0 to 2**32 - 1."""
    with pytest.raises(InvalidInputError, match="a seed is an integer"):
        cairn.seed(bad)  # type: ignore[arg-type]


def test_seed_seeds_random_numpy_and_torch() -> None:
    """One call makes random, NumPy, cairn.rng() and PyTorch repeat their streams."""
    import torch

    assert cairn.seed(7) == 7
    first = (random.random(), np.random.rand(), cairn.rng().random(), torch.rand(1).item())
    cairn.seed(7)
    second = (random.random(), np.random.rand(), cairn.rng().random(), torch.rand(1).item())
    assert first == second
    assert {"random", "numpy", "torch", "cudnn.deterministic=True"} <= set(seeded_libraries())
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert torch.are_deterministic_algorithms_enabled()
    drawn = cairn.seed()
    assert 0 <= drawn < 2**32 and current_seed() == drawn


def test_seed_is_recorded_on_the_run(project: Path) -> None:
    """The seed and what it seeded are tags of the active run."""
    with cairn.run() as run:
        cairn.seed(123)
    tags = cairn.get_run(run.id).tags
    assert tags["cairn.seed"] == "123"
    assert "numpy" in tags["cairn.seeded"].split(",")


def test_runs_are_seeded_at_start(project: Path) -> None:
    """A run records the current seed at start, drawing one if nothing was seeded."""
    cairn.seed(99)
    with cairn.run() as run:
        pass
    assert cairn.get_run(run.id).tags["cairn.seed"] == "99"


def test_seeding_runs_can_be_switched_off(project: Path) -> None:
    """With capture.seed off, starting a run seeds and records nothing."""
    cairn.configure(capture={"seed": False})
    with cairn.run() as run:
        pass
    assert "cairn.seed" not in cairn.get_run(run.id).tags


def _fingerprint(project: Path, code: str, seed: int) -> str:
    script = project / "train.py"
    script.write_text(textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, str(script), str(seed)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


SKLEARN = """
import hashlib, sys
import numpy as np
import cairn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

cairn.seed(int(sys.argv[1]))
X, y = make_classification(n_samples=400, n_features=10, random_state=None)
X = X + np.random.normal(size=X.shape)          # NumPy's global RNG
model = RandomForestClassifier(n_estimators=20).fit(X, y)  # random_state=None: global RNG
proba = model.predict_proba(X)
print(hashlib.sha256(X.tobytes() + proba.tobytes()).hexdigest())
"""


def test_numpy_and_sklearn_training_replays_bit_for_bit(project: Path) -> None:
    """Two processes with the same seed train identical models; another seed differs."""
    first = _fingerprint(project, SKLEARN, 5)
    assert _fingerprint(project, SKLEARN, 5) == first
    assert _fingerprint(project, SKLEARN, 6) != first


TORCH = """
import hashlib, random, sys
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
import cairn

cairn.seed(int(sys.argv[1]))
torch.set_num_threads(1)

class Noisy(Dataset):
    def __init__(self):
        self.x = torch.randn(256, 8)
        self.y = (self.x.sum(dim=1) > 0).float()
    def __len__(self):
        return len(self.x)
    def __getitem__(self, i):
        # augmentation drawn in the worker: needs seed_worker to be replayable
        noise = np.random.normal(scale=0.1, size=8).astype("float32") + random.random()
        return self.x[i] + torch.from_numpy(noise), self.y[i]

loader = DataLoader(Noisy(), batch_size=32, shuffle=True, num_workers=2,
                    worker_init_fn=cairn.seed_worker, generator=cairn.torch_generator())
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                            torch.nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(2):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb).squeeze(1), yb)
        loss.backward()
        optimizer.step()
weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
print(hashlib.sha256(weights).hexdigest())
"""


def test_torch_dataloader_training_replays_bit_for_bit(project: Path) -> None:
    """A PyTorch CPU model trained through a 2-worker DataLoader is identical across processes."""
    first = _fingerprint(project, TORCH, 11)
    assert _fingerprint(project, TORCH, 11) == first
    assert _fingerprint(project, TORCH, 12) != first


TORCH_CUDA = """
import hashlib
import torch
from torch.utils.data import DataLoader, TensorDataset
import cairn

cairn.log({"started": 1.0})  # attaches to the run cairn run started, seeded by it
device = torch.device("cuda")
images = torch.randn(512, 3, 16, 16)
labels = torch.randint(0, 10, (512,))
loader = DataLoader(TensorDataset(images, labels), batch_size=32, shuffle=True, num_workers=2,
                    worker_init_fn=cairn.seed_worker, generator=cairn.torch_generator())
model = torch.nn.Sequential(  # convolutions and batch norm run through cuDNN
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
    torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
    torch.nn.Flatten(), torch.nn.Dropout(0.3), torch.nn.Linear(32, 10),
).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(3):
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
weights = b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters())
print("fingerprint", hashlib.sha256(weights).hexdigest(), "on", torch.cuda.get_device_name(0))
"""


@pytest.mark.gpu
def test_torch_cuda_cudnn_training_replays_bit_for_bit(project: Path) -> None:
    """A seeded CNN trained on CUDA through cuDNN is bit-identical across two processes."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} cannot use the GPU here (a CPU build?)")
    script = project / "train_gpu.py"
    script.write_text(TORCH_CUDA)

    def train(seed: int) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cairn.cli.main",
                "run",
                "--seed",
                str(seed),
                "--",
                sys.executable,
                str(script),
            ],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        # The program's own line, wherever it is: cairn run's own lines go to stderr.
        found = [line for line in done.stdout.splitlines() if line.startswith("fingerprint ")]
        assert len(found) == 1, done.stdout
        return found[0]

    first = train(21)
    assert train(21) == first
    assert train(22) != first


LATE_IMPORT = """
import sys
import cairn
cairn.seed(int(sys.argv[1]))
assert "torch" not in sys.modules and "numpy" not in sys.modules  # seeding imports neither
with cairn.run() as run:
    import numpy as np
    import torch  # imported after the run started: seeded on import all the same
    draws = (np.random.rand(), torch.rand(1).item(), torch.randn(2).tolist())
    assert torch.backends.cudnn.deterministic and torch.are_deterministic_algorithms_enabled()
seeded = cairn.get_run(run.id).tags["cairn.seeded"].split(",")
assert {"numpy", "torch", "cudnn.deterministic=True"} <= set(seeded), seeded
print(draws)
"""


def test_libraries_imported_after_seeding_are_seeded_on_import(project: Path) -> None:
    """seed() imports nothing; NumPy and PyTorch imported later get the seed at their import."""
    first = _fingerprint(project, LATE_IMPORT, 3)
    assert _fingerprint(project, LATE_IMPORT, 3) == first
    assert _fingerprint(project, LATE_IMPORT, 4) != first
    import numpy as np
    import torch

    np.random.seed(3)
    torch.manual_seed(3)
    expected = (np.random.rand(), torch.rand(1).item(), torch.randn(2).tolist())
    assert first == str(expected)  # exactly what seeding before the import would give


HOOKED = """
import random, sys
first = random.random()
light = "cairn" not in sys.modules  # the start-up hook seeded without importing cairn
import numpy as np
drawn = np.random.rand()
from cairn.tracking import current_seed, seeded_libraries
finders = [f for f in sys.meta_path if type(f).__name__ == "_OnImportFinder"]
print(first, drawn, light, current_seed(), len(finders))
print(",".join(seeded_libraries()))
"""


def test_the_start_up_hook_seeds_before_the_program_and_shares_its_state_with_cairn(
    project: Path,
) -> None:
    """cairn run's sitecustomize seeds at interpreter start; a later import cairn sees that seed."""
    from cairn.tracking.launch import STARTUP_DIR

    (project / "hooked.py").write_text(HOOKED)
    env = {**os.environ, "PYTHONPATH": str(STARTUP_DIR), "CAIRN_SEED": "9"}
    done = subprocess.run(
        [sys.executable, "hooked.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    values, seeded = done.stdout.splitlines()
    first, drawn, light, current, finders = values.split()
    random.seed(9)
    np.random.seed(9)
    assert (first, drawn) == (repr(random.random()), repr(np.random.rand()))
    assert (light, current) == ("True", "9")
    assert {"random", "numpy"} <= set(seeded.split(","))
    # One mechanism, not a second one from importing cairn: one finder while a library waits.
    assert finders == ("1" if " (on import)" in seeded else "0")


def test_a_bad_seed_in_the_start_up_hook_is_told_and_the_program_runs(project: Path) -> None:
    """A CAIRN_SEED that is not a seed leaves the program unseeded, with one line on stderr."""
    from cairn.tracking.launch import STARTUP_DIR

    env = {**os.environ, "PYTHONPATH": str(STARTUP_DIR), "CAIRN_SEED": "-1"}
    done = subprocess.run(
        [sys.executable, "-c", "print('ran')"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "ran\n"
    assert "CAIRN_SEED='-1' is not a seed" in done.stderr


def test_the_package_seed_is_the_function_though_a_submodule_has_its_name() -> None:
    """cairn.tracking.seed is the seeding function in a fresh process, whatever imported first."""
    code = (
        "from cairn.tracking import current_seed\n"
        "import cairn.tracking.launch\n"
        "import cairn.tracking\n"
        "from cairn.tracking import seed\n"
        "assert callable(cairn.tracking.seed) and callable(seed), cairn.tracking.seed\n"
        "assert cairn.tracking.seed(4) == 4 == current_seed()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
