// The prompt: a held connection waits for this user's answer. One window for every
// pending prompt (a counter shows how many); the safe choice, deny once, is the default.
// It appears on top without taking the keyboard from someone typing elsewhere: it takes
// focus once clicked (then Alt+A / Alt+D / Alt+O and Enter work; the buttons work at
// once).
import QtQuick
import QtQuick.Controls as Controls
import QtQuick.Layouts
import org.kde.kirigami as Kirigami
import Netwarden.Backend

Kirigami.AbstractApplicationWindow {
    id: window

    required property PromptModel prompts
    property Preferences preferences: null
    readonly property bool pinByDefault: preferences ? preferences.pinByDefault : true
    // The first pending prompt, read again when the prompts or its values change.
    property int revision: 0
    readonly property var current: {
        window.revision  // a dependency: dataChanged bumps it
        return prompts.count > 0 ? prompts.get(0) : ({})
    }
    property int secondsLeft: 0
    // Long paths, command lines and names elide at this width instead of widening the
    // form past the window.
    readonly property real fieldWidth: Kirigami.Units.gridUnit * 22
    // False while the window shows without keyboard focus, until it is clicked.
    property bool focusable: false

    title: qsTr("Netwarden: connection held")
    flags: Qt.Dialog | Qt.WindowStaysOnTopHint | (focusable ? 0 : Qt.WindowDoesNotAcceptFocus)
    width: Kirigami.Units.gridUnit * 36
    height: Kirigami.Units.gridUnit * 20
    // Shown and hidden by the app (netwarden/prompt_window.py), on the pointer's screen.
    onVisibleChanged: if (!visible) focusable = false

    function answer(action) {
        prompts.answer(current.promptId, action, scopeBox.currentValue, lifetimeBox.currentValue,
                       pinBox.checked)
    }

    Connections {
        target: window.prompts
        function onDataChanged() { window.revision++ }
        function onCountChanged() {
            scopeBox.currentIndex = 0
            lifetimeBox.currentIndex = 0
            pinBox.checked = window.pinByDefault
        }
    }

    Timer {
        interval: 500
        repeat: true
        running: window.visible
        triggeredOnStart: true
        onTriggered: window.secondsLeft = Math.max(0, Math.round(window.current.deadline - Date.now() / 1000))
    }

    Shortcut { sequence: "Alt+A"; onActivated: window.answer("allow") }
    Shortcut { sequence: "Alt+D"; onActivated: window.answer("deny") }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Kirigami.Units.largeSpacing
        spacing: Kirigami.Units.largeSpacing

        PointHandler {  // passive: buttons still get their clicks
            onActiveChanged: if (active && !window.focusable) {
                window.focusable = true
                window.requestActivate()
            }
        }

        RowLayout {
            Kirigami.Icon {
                source: "security-medium"
                implicitWidth: Kirigami.Units.iconSizes.large
                implicitHeight: Kirigami.Units.iconSizes.large
            }
            Kirigami.Heading {
                objectName: "promptHeading"
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                text: window.current.reason === "pin_mismatch"
                      ? qsTr("%1 changed on disk and wants to connect to %2").arg(window.current.program || qsTr("An unknown program")).arg(window.current.host)
                      : qsTr("%1 wants to connect to %2").arg(window.current.program || qsTr("An unknown program")).arg(window.current.host)
            }
            Controls.Label {
                objectName: "promptCounter"
                visible: window.prompts.count > 1
                text: qsTr("1 of %1").arg(window.prompts.count)
            }
        }

        Kirigami.InlineMessage {
            objectName: "promptGaveUp"
            Layout.fillWidth: true
            visible: !!window.current.gaveUp
            type: Kirigami.MessageType.Information
            text: qsTr("%1 stopped waiting (it exited or gave up the connection). Your answer still makes the rule for next time.").arg(window.current.program || qsTr("The program"))
        }

        Kirigami.FormLayout {
            Layout.fillWidth: true
            Controls.Label {
                objectName: "promptProgram"
                visible: !window.current.forwardedFrom
                Kirigami.FormData.label: qsTr("Program:")
                text: window.current.exe || qsTr("unknown")
                elide: Text.ElideMiddle
                Layout.fillWidth: true
                Layout.preferredWidth: window.fieldWidth
            }
            Controls.Label {
                objectName: "promptScript"
                visible: (window.current.script || "") !== ""
                Kirigami.FormData.label: qsTr("Script:")
                text: window.current.script || ""
                elide: Text.ElideMiddle
                Layout.fillWidth: true
                Layout.preferredWidth: window.fieldWidth
            }
            Controls.Label {
                visible: !window.current.forwardedFrom
                Kirigami.FormData.label: qsTr("Command line:")
                text: window.current.commandLine || ""
                elide: Text.ElideRight
                Layout.fillWidth: true
                Layout.preferredWidth: window.fieldWidth
            }
            Controls.Label {
                visible: !window.current.forwardedFrom
                Kirigami.FormData.label: qsTr("User:")
                text: window.current.user || ""
            }
            Controls.Label {
                objectName: "promptDestination"
                Kirigami.FormData.label: qsTr("Destination:")
                elide: Text.ElideRight
                Layout.fillWidth: true
                Layout.preferredWidth: window.fieldWidth
                text: (window.current.host === window.current.address
                       ? window.current.address
                       : qsTr("%1 (%2)").arg(window.current.host).arg(window.current.address))
                      + qsTr(", port %1 %2").arg(window.current.port).arg((window.current.protocol || "").toUpperCase())
            }
            Controls.Label {
                Kirigami.FormData.label: qsTr("Decided by default in:")
                text: qsTr("%1 s").arg(window.secondsLeft)
            }
            Controls.ComboBox {
                id: scopeBox
                objectName: "scopeBox"
                Kirigami.FormData.label: qsTr("For:")
                textRole: "text"
                valueRole: "value"
                model: [
                    { text: qsTr("This host"), value: "host" },
                    { text: window.current.domain ? qsTr("This domain (%1)").arg(window.current.domain)
                                                  : qsTr("This domain"), value: "domain" },
                    { text: qsTr("This port, any host"), value: "port" },
                    { text: qsTr("Any destination"), value: "any" }
                ]
            }
            Controls.ComboBox {
                id: lifetimeBox
                objectName: "lifetimeBox"
                Kirigami.FormData.label: qsTr("How long:")
                textRole: "text"
                valueRole: "value"
                // Forwarded traffic has no program here that could quit.
                model: [
                    { text: qsTr("Once"), value: "once" },
                    { text: qsTr("Until the program quits"), value: "until_quit" },
                    { text: qsTr("For one hour"), value: "hour" },
                    { text: qsTr("Forever"), value: "forever" }
                ].filter(choice => !(window.current.forwardedFrom && choice.value === "until_quit"))
            }
            Controls.CheckBox {
                id: pinBox
                objectName: "pinBox"
                visible: !window.current.forwardedFrom
                text: qsTr("&Only this version of the program")
                checked: window.pinByDefault
                enabled: lifetimeBox.currentValue !== "once"  // "once" makes no rule
                Controls.ToolTip.text: qsTr("The rule holds for this binary (its SHA-256); an updated or replaced program is asked about again.")
                Controls.ToolTip.visible: hovered
                Controls.ToolTip.delay: Kirigami.Units.toolTipDelay
            }
        }

        Item { Layout.fillHeight: true }

        RowLayout {
            Layout.alignment: Qt.AlignRight
            Controls.Button {
                objectName: "allowButton"
                text: qsTr("&Allow")
                icon.name: "dialog-ok"
                onClicked: window.answer("allow")
            }
            Controls.Button {
                objectName: "denyButton"
                text: qsTr("&Deny")
                icon.name: "dialog-cancel"
                highlighted: true
                focus: true
                onClicked: window.answer("deny")
            }
        }
    }
}
