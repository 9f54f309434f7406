"""Every exported method is guarded by a polkit action that polkit actually knows."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netwarden_common.api import ACTIONS, INTERFACE
from netwarden_helper.bus.authorization import authorized_method
from netwarden_helper.bus.service import HelperObject

POLICY = Path(__file__).resolve().parents[1] / "polkit" / "io.github.netwarden.policy"


def test_the_policy_file_declares_exactly_the_helpers_actions():
    declared = {action.get("id") for action in ET.parse(POLICY).getroot().iter("action")}
    assert declared == ACTIONS


def test_every_exported_method_names_a_polkit_action_or_chooses_one():
    exported = [
        member
        for cls in HelperObject.__mro__
        for member in vars(cls).values()
        if getattr(member, "_dbus_is_method", False) and member._dbus_interface == INTERFACE
    ]
    assert exported, "the service exports no method at all"
    for method in exported:
        action = method.polkit_action
        assert action in ACTIONS or callable(action), method.__name__


def test_an_unknown_action_is_refused_at_definition():
    with pytest.raises(ValueError, match="unknown polkit action"):
        authorized_method("io.github.netwarden.everything")
