"""Status and settings over the bus: GetStatus, GetSettings, SetSettings."""

import time
from typing import Any, Protocol

import dbus
import psutil

from netwarden_common.api import ACTION_MONITOR, ACTION_SETTINGS
from netwarden_common.dbus_values import dictionary, plain
from netwarden_helper import __version__
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import Signals
from netwarden_helper.bus.records import settings_record
from netwarden_helper.data_plane.plane import Attribution
from netwarden_helper.packet_path.kernel_verdicts import KernelVerdicts
from netwarden_helper.packet_path.netfilter import Backend, Interception
from netwarden_helper.policy.live_settings import LiveSettings


def footprint() -> dict[str, Any]:
    """What the helper itself takes: resident memory (bytes), CPU time used since it
    started (seconds), threads, open file descriptors."""
    process = psutil.Process()
    with process.oneshot():
        cpu = process.cpu_times()
        return {"memory": process.memory_info().rss, "cpu_seconds": cpu.user + cpu.system,
                "threads": process.num_threads(), "open_files": process.num_fds()}  # fmt: skip


class Running(Protocol):
    """What the status tells of the running helper (the composition root's `Helper`)."""

    backend: Backend
    interception: Interception
    attribution: Attribution
    kernel_verdicts: KernelVerdicts
    settings: LiveSettings

    def status(self) -> dict[str, Any]: ...


class StatusMethods:
    def __init__(self, helper: Running, signals: Signals) -> None:
        self._helper = helper
        self._signals = signals
        self._started_at = time.time()

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetStatus(self, caller: Caller) -> dbus.Dictionary:
        """Version, start time, uptime, netfilter backend, failure mode, attribution
        ("ebpf" or "procfs", and why not eBPF), kernel verdicts (on or off, and why
        off), counters."""
        helper = self._helper
        kernel = helper.kernel_verdicts.status
        return dictionary(
            {
                "version": __version__,
                "started_at": int(self._started_at),
                "uptime": time.time() - self._started_at,
                "backend": helper.backend.name,
                "fail_closed": helper.interception.fail_closed,
                "attribution": helper.attribution.mode,
                "attribution_reason": helper.attribution.reason,
                "kernel_verdicts": kernel.on,
                "kernel_verdicts_reason": kernel.reason,
                "counters": helper.status(),
                "footprint": footprint(),
            }
        )

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetSettings(self, caller: Caller) -> dbus.Dictionary:
        """Every setting with its value."""
        return settings_record(self._helper.settings.current)

    @authorized_method(ACTION_SETTINGS, in_signature="a{sv}", out_signature="a{sv}")
    def SetSettings(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Change some settings; returns all of them. All or nothing."""
        current = settings_record(self._helper.settings.update(plain(values)))
        self._signals.send("SettingsChanged", "a{sv}", current)
        return current
