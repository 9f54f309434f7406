"""Rules the administrator deploys: `*.json` files in `/etc/netwarden/rules.d/`, read-only.

Each file is a Netwarden rules file (the format of ExportRules, `rule_files.py`), so
Ansible, Salt or Puppet can deploy policy. Files load in name order (`10-corp.json`
before `20-lab.json`); a file that does not load is logged and ignored as a whole, never
half-applied. The rules get ids from `ADMIN_IDS` up (renumbered at each reload) and are
never written to the user's database. The folder is watched, and its parent too so a
folder made later is found: a file added, changed or removed applies at once.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from netwarden_common.rule_files import MAX_BYTES, RuleFileError, load_rules
from netwarden_common.rules import Rule
from netwarden_helper.policy.engine import ordered
from netwarden_helper.runtime.file_watch import CHANGED_OR_GONE, FolderWatch
from netwarden_helper.runtime.loop import Loop

log = logging.getLogger(__name__)

ADMIN_IDS = 1 << 48
DEFAULT_FOLDER = Path("/etc/netwarden/rules.d")


@dataclass(frozen=True)
class AdminRules:
    """The administrator's rules in precedence order, and the file each comes from."""

    rules: tuple[Rule, ...] = ()
    sources: Mapping[int, str] = field(default_factory=dict)  # id -> "rules.d/10-corp.json"


def admin_rules(files: list[tuple[str, str]]) -> tuple[AdminRules, list[str]]:
    """The rules of `files` ((source, text), in load order) and an error for each file
    left out. Pure."""
    rules: list[Rule] = []
    sources: dict[int, str] = {}
    errors = []
    for source, text in files:
        try:
            loaded = load_rules(text)
            for index, rule in enumerate(loaded):
                if rule.lifetime == "until_quit":
                    raise RuleFileError(f"rules[{index}].lifetime: until_quit is for answers")
        except RuleFileError as exc:
            errors.append(f"{source}: {exc}")
            continue
        for rule in loaded:
            rule_id = ADMIN_IDS + len(rules)
            rules.append(replace(rule, id=rule_id, hits=0, last_hit=None))
            sources[rule_id] = source
    return AdminRules(tuple(ordered(rules)), sources), errors


class RulesDir:
    """Loads the folder now and whenever a file in it changes; hands the rules over."""

    def __init__(self, loop: Loop, folder: Path, on_rules: Callable[[AdminRules], None]) -> None:
        self.folder = folder
        self._on_rules = on_rules
        self._watch = FolderWatch(loop, self._changed, events=CHANGED_OR_GONE)
        self._watch.watch({str(folder), str(folder.parent)})
        self.reload()

    def reload(self) -> None:
        files = []
        for path in sorted(self.folder.glob("[!.]*.json")):
            try:
                with open(path, encoding="utf-8") as file:
                    files.append((f"{self.folder.name}/{path.name}", file.read(MAX_BYTES + 1)))
            except (OSError, UnicodeDecodeError) as exc:
                log.error("%s ignored: %s", path, exc)
        admin, errors = admin_rules(files)
        for error in errors:
            log.error("%s/%s; the file is ignored", self.folder.parent, error)
        log.info("%d administrator rules from %s", len(admin.rules), self.folder)
        self._on_rules(admin)

    def _changed(self, path: str) -> None:
        if path == str(self.folder):  # the folder itself came or went: watch it anew
            self._watch.watch({str(self.folder.parent)})
            self._watch.watch({str(self.folder), str(self.folder.parent)})
            self.reload()
        elif Path(path).parent == self.folder and path.endswith(".json"):
            self.reload()

    def close(self) -> None:
        self._watch.close()
