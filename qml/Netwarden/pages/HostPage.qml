// One host of the connection map: the programs talking to it, the rules that name it,
// its latest connections from the history, and a rule for it in one click (the rule form,
// filled in).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property ConnectionMap connectionMap
    property RulesModel rules: null
    required property string host
    property var talkers: []
    property var naming: []

    objectName: "hostPage"
    title: host

    // Whether a rule's destination (a host, `*.domain`, an address, or a set of them
    // separated by commas) names this host.
    function names(destination) {
        return destination.split(",").some(d => {
            const name = d.trim()
            return name === page.host || (name.startsWith("*.") && page.host.endsWith(name.substring(1)))
        })
    }

    function update() {
        talkers = connectionMap.programsOf(host)
        const found = []
        for (let i = 0; rules && i < rules.count; i++) {
            const rule = rules.get(i)
            if (names(rule.destination))
                found.push(rule)
        }
        naming = found
    }

    Component.onCompleted: update()

    Timer {  // the history is written every second: look again now and then
        interval: 3000
        repeat: true
        running: true
        triggeredOnStart: true
        onTriggered: {
            page.connectionMap.loadHost(page.host)
            page.update()
        }
    }

    Component {
        id: ruleForm
        RuleFormPage { rules: page.rules }
    }

    actions: [
        Kirigami.Action {
            objectName: "allowHostAction"
            text: qsTr("Allow…")
            icon.name: "dialog-ok-apply"
            visible: page.rules !== null
            onTriggered: applicationWindow().pageStack.layers.push(ruleForm, {"preset": {"action": "allow", "destination": page.host}})
        },
        Kirigami.Action {
            objectName: "denyHostAction"
            text: qsTr("Deny…")
            icon.name: "dialog-cancel"
            visible: page.rules !== null
            onTriggered: applicationWindow().pageStack.layers.push(ruleForm, {"preset": {"action": "deny", "destination": page.host}})
        }
    ]

    ColumnLayout {
        spacing: Kirigami.Units.largeSpacing

        Kirigami.ListSectionHeader { text: qsTr("Programs talking to it"); Layout.fillWidth: true }
        Controls.Label {
            visible: page.talkers.length === 0
            text: qsTr("None in what the monitor shows now.")
            opacity: 0.7
        }
        Repeater {
            model: page.talkers
            delegate: RowLayout {
                required property var modelData
                objectName: "hostProgram"
                Layout.fillWidth: true
                VerdictBadge { verdict: modelData.verdict }
                Controls.Label {
                    Layout.fillWidth: true
                    text: qsTr("%1 (%2) · %3").arg(modelData.name).arg(modelData.user).arg(modelData.destination)
                    elide: Text.ElideRight
                }
                Controls.Label { text: Format.bytes(modelData.bytes); opacity: 0.7 }
            }
        }

        Kirigami.ListSectionHeader { text: qsTr("Rules that name it"); Layout.fillWidth: true }
        Controls.Label {
            visible: page.naming.length === 0
            text: qsTr("No rule names this host.")
            opacity: 0.7
        }
        Repeater {
            model: page.naming
            delegate: RowLayout {
                required property var modelData
                objectName: "hostRule"
                Layout.fillWidth: true
                VerdictBadge { verdict: modelData.ruleAction }
                Controls.Label {
                    Layout.fillWidth: true
                    text: qsTr("%1 to %2").arg(modelData.program).arg(modelData.destinationSummary)
                    opacity: modelData.ruleEnabled ? 1 : 0.6
                    elide: Text.ElideRight
                }
            }
        }

        Kirigami.ListSectionHeader { text: qsTr("Recent connections"); Layout.fillWidth: true }
        Repeater {
            objectName: "hostFlows"
            model: page.connectionMap.hostFlows
            delegate: FlowRow { Layout.fillWidth: true; showProgram: true }
        }
    }
}
