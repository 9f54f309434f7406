"""Who answers prompts: the apps registered as prompt agents, by unique bus name. Pure."""

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptAgent:
    """An app that answers prompts: for its user's programs, or for everyone's."""

    uid: int
    all_users: bool

    def answers_for(self, uid: int) -> bool:
        return self.all_users or self.uid == uid


class PromptAgents:
    def __init__(self) -> None:
        self._agents: dict[str, PromptAgent] = {}

    def add(self, name: str, agent: PromptAgent) -> None:
        self._agents[name] = agent

    def remove(self, name: str) -> bool:
        """Forget `name`; whether it was an agent."""
        return self._agents.pop(name, None) is not None

    def answering(self, uid: int) -> Iterator[str]:
        """The agents that answer for the programs of user `uid`."""
        return (name for name, agent in list(self._agents.items()) if agent.answers_for(uid))

    def can_ask(self, uid: int) -> bool:
        """Whether someone is there to answer for the programs of user `uid`."""
        return any(True for _name in self.answering(uid))
