"""Names of the helper's D-Bus API and of its polkit actions: the contract with clients."""

BUS_NAME = "io.github.netwarden.Helper1"
OBJECT_PATH = "/io/github/netwarden/Helper1"
INTERFACE = "io.github.netwarden.Helper1"
ERROR_PREFIX = f"{INTERFACE}.Error"

# polkit actions, declared in polkit/io.github.netwarden.policy.
ACTION_MONITOR = "io.github.netwarden.monitor"
ACTION_MONITOR_ALL = "io.github.netwarden.monitor-all-users"
ACTION_ANSWER_PROMPT = "io.github.netwarden.answer-prompt"
ACTION_MANAGE_OWN_RULES = "io.github.netwarden.manage-own-rules"
ACTION_MANAGE_RULES = "io.github.netwarden.manage-rules"
ACTION_SETTINGS = "io.github.netwarden.settings"

ACTIONS = frozenset(
    {
        ACTION_MONITOR,
        ACTION_MONITOR_ALL,
        ACTION_ANSWER_PROMPT,
        ACTION_MANAGE_OWN_RULES,
        ACTION_MANAGE_RULES,
        ACTION_SETTINGS,
    }
)

# Every method's input signature, for clients that call by name (netwardenctl, tests).
METHOD_SIGNATURES = {
    "GetStatus": "", "GetSettings": "", "SetSettings": "a{sv}", "ListRules": "",
    "AddRule": "a{sv}", "UpdateRule": "ta{sv}", "SetRuleEnabled": "tb", "DeleteRule": "t",
    "ExportRules": "", "ImportRules": "sa{sv}", "RegisterPromptAgent": "a{sv}",
    "UnregisterPromptAgent": "", "ListPrompts": "", "AnswerPrompt": "ta{sv}",
    "WatchConnections": "a{sv}", "UnwatchConnections": "", "ListConnections": "a{sv}",
    "QueryHistory": "a{sv}", "TrafficSeries": "a{sv}", "TopTraffic": "a{sv}",
    "ExportHistory": "ha{sv}", "QueryProfileSwitches": "a{sv}", "ListAlerts": "",
    "ResolveAlert": "ts",
    "ListBlocklists": "", "AddBlocklist": "a{sv}", "RemoveBlocklist": "t",
    "SetBlocklistEnabled": "tb", "UpdateBlocklists": "", "ListProfiles": "",
    "AddProfile": "a{sv}", "UpdateProfile": "sa{sv}", "RenameProfile": "ss",
    "RemoveProfile": "sa{sv}", "SetActiveProfile": "s",
    "LocateAddresses": "as", "GetLocationDatabase": "", "UpdateLocationDatabase": "",
}  # fmt: skip
