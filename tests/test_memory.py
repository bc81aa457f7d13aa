"""chainrule asks glibc to keep freed memory for reuse, unless told not to."""

import subprocess
import sys

import pytest

import chainrule._memory as memory

glibc = sys.platform.startswith("linux") and "glibc" in " ".join(
    __import__("platform").libc_ver())


@pytest.mark.skipif(not glibc, reason="mallopt is glibc's")
def test_malloc_keeps_freed_memory_on_glibc():
    assert memory.KEPT is True


@pytest.mark.parametrize("setting, kept", [("default", "False"), ("", "True" if glibc else "False")])
def test_chainrule_malloc_default_leaves_malloc_alone(setting, kept):
    code = "import chainrule._memory as m; print(m.KEPT)"
    env = {"CHAINRULE_MALLOC": setting, "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    assert out == kept
