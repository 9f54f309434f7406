"""Prompts over the bus: prompt agents, pending prompts, answers.

Apps register as prompt agents; a prompt is sent only to the agents of the user whose
program it is (and to agents an administrator registered for all users), never
broadcast. Agents are forgotten when they unregister or leave the bus, and prompts
nobody can answer any more get the unanswered action at once.
"""

import dbus

from netwarden_common.api import ACTION_ANSWER_PROMPT, ACTION_MANAGE_RULES
from netwarden_common.dbus_values import dictionary, options
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import BusPeers, Signals
from netwarden_helper.bus.records import prompt_record, rule_record
from netwarden_helper.packet_path.held_flows import HeldFlows, Prompt
from netwarden_helper.packet_path.prompt_agents import PromptAgent
from netwarden_helper.policy.answers import Answer


def _agent_action(agent_options: dbus.Dictionary) -> str:
    all_users = options(agent_options, {"all_users": bool}).get("all_users")
    return ACTION_MANAGE_RULES if all_users else ACTION_ANSWER_PROMPT


class PromptMethods:
    def __init__(self, held_flows: HeldFlows, signals: Signals) -> None:
        self._held = held_flows
        self._signals = signals
        self.agents: BusPeers[PromptAgent] = BusPeers(signals.connection, self._left)
        self._told: dict[int, set[str]] = {}  # prompt id -> agents it was sent to

    def _left(self, name: str) -> None:
        if self._held.agents.remove(name):
            self._held.agents_changed()

    @authorized_method(
        lambda self, caller, agent_options: _agent_action(agent_options), in_signature="a{sv}"
    )
    def RegisterPromptAgent(self, caller: Caller, agent_options: dbus.Dictionary) -> None:
        """Receive PromptRaised/PromptClosed for the caller's own programs, or with
        all_users (b) for every user's (an administrator's action). Ends when the
        caller leaves the bus or calls UnregisterPromptAgent."""
        all_users = options(agent_options, {"all_users": bool}).get("all_users", False)
        name, agent = caller.bus_name, PromptAgent(caller.uid, all_users)
        self.agents.add(name, agent)
        self._held.agents.add(name, agent)
        self._held.agents_changed()
        for prompt in self._held.pending_prompts():
            if agent.answers_for(prompt.flow.uid):
                self._tell(name, prompt)

    @authorized_method(ACTION_ANSWER_PROMPT)
    def UnregisterPromptAgent(self, caller: Caller) -> None:
        """Stop receiving prompts."""
        self.agents.remove(caller.bus_name)

    @authorized_method(ACTION_ANSWER_PROMPT, out_signature="aa{sv}")
    def ListPrompts(self, caller: Caller) -> dbus.Array:
        """Pending prompts the caller may answer: its own programs' (all of them for an
        agent registered for all users)."""
        agent = self.agents.get(caller.bus_name) or PromptAgent(caller.uid, all_users=False)
        return dbus.Array(
            [dictionary(prompt_record(p)) for p in self._held.pending_prompts()
             if agent.answers_for(p.flow.uid)],
            signature="a{sv}",
        )  # fmt: skip

    @authorized_method(
        lambda self, caller, prompt_id, answer: (
            ACTION_ANSWER_PROMPT
            if self._held.prompt(prompt_id).flow.uid == caller.uid
            else ACTION_MANAGE_RULES
        ),
        in_signature="ta{sv}",
        out_signature="a{sv}",
    )
    def AnswerPrompt(
        self, caller: Caller, prompt_id: int, answer: dbus.Dictionary
    ) -> dbus.Dictionary:
        """Answer a prompt: action (s: allow, deny), scope (s: host, domain, port, any),
        lifetime (s: once, until_quit, hour, forever), pin (b, default true). Returns
        the rule it made, or an empty dictionary for "once"."""
        chosen = options(answer, {"action": str, "scope": str, "lifetime": str, "pin": bool})
        rule = self._held.answer(prompt_id, Answer.of(chosen))
        return dictionary(rule_record(rule) if rule else {})

    # From the held flows (queued on the loop: never sent from inside a packet callback)

    def prompt_raised(self, prompt: Prompt) -> None:
        if prompt.id not in {p.id for p in self._held.pending_prompts()}:
            return  # closed before it could be told
        for name in self._held.agents.answering(prompt.flow.uid):
            self._tell(name, prompt)

    def _tell(self, name: str, prompt: Prompt) -> None:
        told = self._told.setdefault(prompt.id, set())
        if name not in told:
            told.add(name)
            self._signals.send("PromptRaised", "a{sv}", dictionary(prompt_record(prompt)), to=name)

    def prompt_changed(self, prompt: Prompt) -> None:
        for name in self._told.get(prompt.id, set()):
            self._signals.send("PromptChanged", "a{sv}", dictionary(prompt_record(prompt)), to=name)

    def prompt_closed(self, prompt_id: int, outcome: str) -> None:
        for name in self._told.pop(prompt_id, set()):
            self._signals.send("PromptClosed", "ts", dbus.UInt64(prompt_id), outcome, to=name)
