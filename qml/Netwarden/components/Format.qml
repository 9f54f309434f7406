// Formatting shared by the pages: byte counts (kB, MB: powers of 1000), rates, and texts
// that count ("1 connection", "2 connections").
pragma Singleton
import QtQuick

QtObject {
    function bytes(count) {
        const units = ["B", "kB", "MB", "GB", "TB"]  // powers of 1000, as the CLI
        let value = Number(count) || 0
        let unit = 0
        while (value >= 1000 && unit < units.length - 1) {
            value /= 1000
            unit++
        }
        return unit === 0 ? qsTr("%1 B").arg(value)
                          : qsTr("%1 %2").arg(value.toFixed(value < 10 ? 1 : 0)).arg(units[unit])
    }

    function rate(bytesPerSecond) {
        return qsTr("%1/s").arg(bytes(bytesPerSecond))
    }

    // `singular` for one, else `plural`, with %n replaced by `n`. Both forms are written
    // out (English has two; the app ships no translations to choose them).
    function count(n, singular, plural) {
        return (n === 1 ? singular : plural).replace("%n", n)
    }
}
