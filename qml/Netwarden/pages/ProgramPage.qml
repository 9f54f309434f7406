// One program of the Network Monitor: what it is, the rules that apply to it, and its
// recent connections from the history.
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden
import Netwarden.Backend

Kirigami.ScrollablePage {
    id: page

    required property ConnectionsModel connections
    property RulesModel rules: null
    required property string programKey
    // The program's row, kept while it is live (its last values once it has gone).
    property var program: ({})
    property var applying: []

    objectName: "programPage"
    title: program.program || qsTr("Program")

    function update() {
        const row = connections.rowOf(programKey)
        if (row >= 0)
            program = connections.get(row)
        applying = rules && (program.exe || program.forwardedFrom)
                   ? rules.rulesFor(program.exe, program.forwardedFrom || "") : []
    }

    Component.onCompleted: update()

    Timer {  // the history is written every second: look again now and then
        interval: 3000
        repeat: true
        running: page.program.exe !== undefined
        triggeredOnStart: true
        onTriggered: page.connections.loadHistory(page.program.exe, page.program.forwardedFrom || "")
    }
    Connections {
        target: page.connections
        function onDataChanged() { page.update() }
    }
    Connections {  // a rule that changes place is removed and inserted again
        target: page.rules
        function onRowsInserted() { page.update() }
        function onRowsRemoved() { page.update() }
        function onDataChanged() { page.update() }
    }

    ColumnLayout {
        spacing: Kirigami.Units.largeSpacing

        Kirigami.FormLayout {
            Layout.fillWidth: true
            Controls.Label {
                objectName: "programPath"
                visible: !page.program.forwardedFrom
                Kirigami.FormData.label: qsTr("Path:")
                text: page.program.exe || ""
                wrapMode: Text.WrapAnywhere
                Layout.fillWidth: true
            }
            Controls.Label {
                objectName: "forwardedFrom"
                visible: !!page.program.forwardedFrom
                Kirigami.FormData.label: qsTr("Routed from:")
                text: qsTr("%1: a container, a virtual machine or another computer whose traffic this computer forwards").arg(page.program.forwardedFrom || "")
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            Controls.Label {
                objectName: "programHash"
                visible: !page.program.forwardedFrom
                Kirigami.FormData.label: qsTr("SHA-256:")
                text: page.program.sha256 || qsTr("not known: the helper hashes a program when a rule pins it")
                font.family: page.program.sha256 ? "monospace" : Kirigami.Theme.defaultFont.family
                wrapMode: Text.WrapAnywhere
                Layout.fillWidth: true
            }
            Controls.Label {
                visible: !page.program.forwardedFrom
                Kirigami.FormData.label: qsTr("User:")
                text: page.program.user || ""
            }
            Controls.Label {
                visible: (page.program.unit || page.program.flatpak || "") !== ""
                Kirigami.FormData.label: qsTr("Unit / app:")
                text: page.program.flatpak || page.program.unit || ""
            }
        }

        Kirigami.ListSectionHeader { text: qsTr("Rules that apply"); Layout.fillWidth: true }
        Controls.Label {
            visible: page.applying.length === 0
            text: qsTr("No rule names this program: it is asked about, or gets the default action.")
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
        Repeater {
            model: page.applying
            delegate: RowLayout {
                required property var modelData
                Layout.fillWidth: true
                VerdictBadge { verdict: modelData.ruleAction }
                Controls.Label {
                    Layout.fillWidth: true
                    text: Format.count(modelData.hits, qsTr("%1 to %2 %3 (%n hit)"), qsTr("%1 to %2 %3 (%n hits)"))
                          .arg(modelData.program).arg(modelData.destinationSummary || qsTr("anywhere"))
                          .arg(modelData.ports ? qsTr("port %1").arg(modelData.portsSummary) : "")
                    opacity: modelData.ruleEnabled ? 1 : 0.6
                    elide: Text.ElideRight
                }
            }
        }

        Kirigami.ListSectionHeader { text: qsTr("Recent connections"); Layout.fillWidth: true }
        Repeater {
            objectName: "recentFlows"
            model: page.connections.recentFlows
            delegate: FlowRow { Layout.fillWidth: true }
        }
    }
}
