"""The data plane's records as the helper packs and reads them: the same layout as the C
structs of the built object (its BTF), and kernel decisions read back whole."""

import re
import shutil
import struct
import subprocess

import pytest

from netwarden_helper.data_plane.plane import OBJECT
from netwarden_helper.data_plane.records import (
    FLOW_OWNER_SIZE,
    LAYOUT,
    KernelDecision,
    SocketOwner,
    verdict_key,
    verdict_value,
)


@pytest.mark.skipif(shutil.which("bpftool") is None or not OBJECT.is_file(),
                    reason="needs bpftool and the built object (make bpf)")  # fmt: skip
def test_every_record_has_the_size_of_its_c_struct():
    btf = subprocess.run(["bpftool", "btf", "dump", "file", str(OBJECT)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    sizes = {name: int(size) for name, size in re.findall(r"STRUCT '(\w+)' size=(\d+)", btf)}
    assert {name: sizes.get(name) for name in LAYOUT} == LAYOUT


def owner(**changes) -> SocketOwner:
    values = dict(tgid=7, pid=7, uid=1000, gid=1000, comm="curl", cgroup_id=42,
                  start_ns=1, exec_id=2, root=(1, 2), global_tgid=7, socket_uid=1000,
                  recorded_uid=1000, exe_id=(11, 4096, 100, 200, 5, 6, 2049, 0, 1, 2, 3),
                  root_raw=(1, 2))  # fmt: skip
    return SocketOwner(**{**values, **changes})


def test_a_verdict_key_names_program_user_and_destination():
    key = verdict_key(owner(), 4, 6, "192.0.2.2", 443)
    assert key == verdict_key(owner(pid=8, tgid=8, comm="other"), 4, 6, "192.0.2.2", 443)
    for other in (verdict_key(owner(recorded_uid=0), 4, 6, "192.0.2.2", 443),
                  verdict_key(owner(cgroup_id=43), 4, 6, "192.0.2.2", 443),
                  verdict_key(owner(exe_id=(11, 4097, 100, 200, 5, 6, 2049, 0, 1, 2, 3)), 4, 6,
                              "192.0.2.2", 443),
                  verdict_key(owner(), 4, 6, "192.0.2.3", 443),
                  verdict_key(owner(), 4, 17, "192.0.2.2", 443),
                  verdict_key(owner(), 4, 6, "192.0.2.2", 80)):  # fmt: skip
        assert other != key
    assert len(key) == LAYOUT["verdict_key"]
    assert len(verdict_value(3, 10**9, 2**48, "deny")) == LAYOUT["verdict"]


def test_the_executable_is_named_as_the_hash_cache_keys_it():
    # kernel dev_t 8:1 (major << 20 | minor) is stat()'s 0x801
    assert owner(exe_id=(11, 4096, 100, 200, 5, 6, (8 << 20) | 1, 0, 1, 2, 3)).exe_file == (
        0x801,
        11,
        4096,
        100_000_000_005,
        200_000_000_006,
    )


def test_a_kernel_decision_reads_back_its_flow():
    key = verdict_key(owner(), 6, 6, "2001:db8::2", 8080)
    source = bytes.fromhex("20010db8000000000000000000000001")
    record = key + source + struct.pack("=QIHBx", 2**48 + 5, 7, 40000, 2)
    decision = KernelDecision.unpack(record)
    assert (decision.action, decision.rule_id, decision.tgid, decision.src, decision.sport,
            decision.dst, decision.dport, decision.protocol) == (
        "deny", 2**48 + 5, 7, "2001:db8::1", 40000, "2001:db8::2", 8080, 6)  # fmt: skip
    refused = KernelDecision.unpack(key + bytes(16) + struct.pack("=QIHBx", 1, 7, 0, 1))
    assert (refused.action, refused.src, refused.sport) == ("allow", "", 0)


def test_a_flow_from_a_socket_of_the_kernels_own_reads_back_as_such():
    """`flow_owner.kernel`, its last field, set by the netfilter program."""
    assert SocketOwner.unpack(bytes(FLOW_OWNER_SIZE - 4) + struct.pack("=I", 1)).kernel
    assert not SocketOwner.unpack(bytes(FLOW_OWNER_SIZE)).kernel
