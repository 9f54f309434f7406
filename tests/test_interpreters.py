"""Which script an interpreter runs: the command lines real programs are started with."""

import pytest

from netwarden_common.interpreters import interpreter_kind, script_of

CWD = "/home/ada/project"


@pytest.mark.parametrize(
    ("exe", "cmdline", "script"),
    [
        ("/usr/bin/python3.13", ("python3", "sync.py"), f"{CWD}/sync.py"),
        ("/usr/bin/python3.13", ("python3", "-u", "-W", "ignore", "/opt/a.py", "-v"), "/opt/a.py"),
        ("/usr/bin/python3.13", ("python3", "-m", "http.server"), ""),
        ("/usr/bin/python3.13", ("python3", "-c", "import x"), ""),
        ("/usr/bin/python3.13", ("python3", "-cimport x"), ""),
        ("/usr/bin/python3.13", ("python3",), ""),
        ("/usr/bin/perl", ("perl", "-I", "lib", "../bin/tool.pl"), "/home/ada/bin/tool.pl"),
        ("/usr/bin/perl", ("perl", "-e", "print 1"), ""),
        ("/usr/bin/ruby3.3", ("ruby", "-r", "json", "app.rb"), f"{CWD}/app.rb"),
        ("/usr/bin/node", ("node", "--require", "x", "server.js"), f"{CWD}/server.js"),
        ("/usr/bin/bash", ("bash", "-x", "./deploy.sh", "prod"), f"{CWD}/deploy.sh"),
        ("/usr/bin/dash", ("sh", "-c", "curl example.org"), ""),
        ("/usr/bin/bash", ("bash", "--", "-weird-name.sh"), f"{CWD}/-weird-name.sh"),
        ("/usr/lib/jvm/java-21/bin/java", ("java", "-cp", "x", "-jar", "app.jar"),
         f"{CWD}/app.jar"),
        ("/usr/lib/jvm/java-21/bin/java", ("java", "com.example.Main"), ""),
        ("/usr/bin/curl", ("curl", "script.py"), ""),
    ],
)  # fmt: skip
def test_the_script_is_the_first_operand_after_the_interpreters_options(exe, cmdline, script):
    assert script_of(exe, cmdline, CWD) == script


def test_only_interpreters_are_recognised():
    assert [interpreter_kind(p) for p in ("/usr/bin/python3.13", "/usr/bin/nodejs",
            "/bin/zsh", "/usr/bin/pythonista", "/usr/bin/firefox")] == [
        "python", "node", "shell", "", ""]  # fmt: skip
