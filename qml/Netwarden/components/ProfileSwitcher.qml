// Which profile is active, and a switch to another: "No profile" or one of the
// profiles. Shows what the helper says is active (ProfilesChanged), never a click it
// refused.
import QtQuick
import QtQuick.Controls as Controls
import Netwarden.Backend

Controls.ComboBox {
    id: switcher

    required property ProfilesModel profiles

    objectName: "profileSwitcher"
    model: [qsTr("No profile"), ...switcher.profiles.names]
    readonly property int activeIndex: profiles.names.indexOf(profiles.active) + 1

    currentIndex: activeIndex
    displayText: qsTr("Profile: %1").arg(currentText)
    Controls.ToolTip.text: qsTr("The rules of the active profile are in force, with those of every profile")
    Controls.ToolTip.visible: hovered
    onActivated: index => switcher.profiles.use(index === 0 ? "" : switcher.profiles.names[index - 1])

    // The helper's answer (the switch, or a refusal) shows the active profile again.
    Connections {
        target: switcher.profiles
        function onChanged() { switcher.currentIndex = Qt.binding(() => switcher.activeIndex) }
    }
}
