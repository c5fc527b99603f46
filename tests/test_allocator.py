"""allocator.keep_freed_memory changes where memory comes from, not what is computed: the same
seeded IWAE bound before and after it, bit for bit (in a subprocess: the setting lasts for the
process, and the test suite's own process should keep glibc's defaults)."""
import platform
import subprocess
import sys

CODE = """
import sys, torch
from vae_lessons.allocator import keep_freed_memory
from vae_lessons.models import VAE
from vae_lessons.objectives import iwae_bound
torch.manual_seed(0)
model, x = VAE((784, 32, 4)), torch.rand(20, 784).bernoulli()
def bound():
    with torch.no_grad():
        return iwae_bound(model, x, 500, chunk=50, generator=torch.Generator().manual_seed(1))
before = bound()
applied = keep_freed_memory()
after = bound()
assert torch.equal(before, after), (before - after).abs().max()
print(applied)
"""


def test_keeping_freed_memory_leaves_results_bit_for_bit_unchanged():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out.stdout.strip() == str(glibc)  # applied exactly where glibc's mallopt exists
