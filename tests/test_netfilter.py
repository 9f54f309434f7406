"""Both netfilter backends against the real kernel, in a fresh namespace."""

import re
import subprocess

from netwarden_helper.packet_path.netfilter import (
    Interception,
    IptablesBackend,
    NftablesBackend,
    choose_backend,
    remove_all,
)


def rules(ns):
    return [
        line
        for save in ("iptables-save", "ip6tables-save")
        for line in ns.run(save).stdout.splitlines()
        if line.startswith("-A")
    ]


def test_iptables_install_is_idempotent_and_remove_is_complete(netns):
    with netns.host.entered():
        backend = IptablesBackend()
        interception = Interception()
        backend.install(interception)
        first = rules(netns.host)
        backend.install(interception)
        assert rules(netns.host) == first
        backend.remove()
    assert rules(netns.host) == []
    assert "NETWARDEN" not in netns.host.run("iptables-save").stdout


def test_fail_closed_drops_the_bypass_for_flows_but_not_for_dns(netns):
    with netns.host.entered():
        IptablesBackend().install(Interception(fail_closed=True))
    queued = [line for line in rules(netns.host) if "NFQUEUE" in line]
    flows = [line for line in queued if "7700" in line]
    dns = [line for line in queued if "7701" in line]
    assert flows and not any("--queue-bypass" in line for line in flows)
    assert dns and all("--queue-bypass" in line for line in dns)


def test_the_backend_follows_the_kernels_nftables_queue_support(netns):
    probe = (
        "table inet probe { chain c { type filter hook output priority 0; queue num 1 bypass; } }"
    )
    with netns.host.entered():
        kernel_queues = subprocess.run(["nft", "-c", "-f", "-"], input=probe, text=True,
                                       capture_output=True).returncode == 0  # fmt: skip
        backend = choose_backend(Interception())
    assert backend.name == ("nftables" if kernel_queues else "iptables")


def test_the_nftables_ruleset_is_valid_and_removed_cleanly(netns):
    # This kernel cannot queue from nftables, so check everything else of the ruleset:
    # the same text with each queue statement turned into accept loads and unloads.
    backend = NftablesBackend()
    text = backend.ruleset(Interception())
    text = re.sub(r"queue num \d+( bypass)?", "accept", text)
    with netns.host.entered():
        subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)
        subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)  # replaces
        listed = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        assert listed.count("table inet netwarden") == 1
        assert "reject with tcp reset" in listed
        remove_all()
        after = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert "netwarden" not in after


def test_each_run_draws_marks_of_its_own():
    drawn = {Interception().marks for _ in range(50)}
    assert len(drawn) > 40
    for marks in drawn:
        assert len({marks.reject, marks.own, marks.decided}) == 3
        assert marks.reject >> 16 == marks.own >> 16 == marks.decided >> 16 == 0x4E57
        # never Kubernetes' masquerade and drop bits: the decided mark rides on programs'
        # own packets
        assert not (marks.reject | marks.own | marks.decided) & 0xC000
