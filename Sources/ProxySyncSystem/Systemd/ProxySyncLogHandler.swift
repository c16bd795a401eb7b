import Glibc
import Logging
import Synchronization
import ProxySyncCore

/// Where log records go: journald's native socket (with priority and an EVENT field) when
/// `$JOURNAL_STREAM` is set, otherwise readable lines on stderr.
public final class LogSink: @unchecked Sendable {
    public enum Mode: Sendable {
        case stderrPlain
        case journal(socketPath: String)
    }

    let mode: Mode
    private let lock = Mutex(())

    public init(mode: Mode) {
        self.mode = mode
    }

    /// Chooses the mode from the environment.
    public static func fromEnvironment(_ environment: [String: String]) -> LogSink {
        if let stream = environment["JOURNAL_STREAM"], !stream.isEmpty {
            let socket = environment["GOCD_PROXY_SYNC_JOURNAL_SOCKET"] ?? "/run/systemd/journal/socket"
            return LogSink(mode: .journal(socketPath: socket))
        }
        return LogSink(mode: .stderrPlain)
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    func emit(level: Logger.Level, message: String, metadata: Logger.Metadata) {
        var fields = metadata
        let event = fields.removeValue(forKey: "event").map { "\($0)" } ?? "log"
        let output = fields.removeValue(forKey: "output").map { "\($0)" }
        let sortedFields = fields.sorted { $0.key < $1.key }
        var line = "\(event): \(message)"
        for (key, value) in sortedFields {
            line += " \(key)=\(Self.quoted("\(value)"))"
        }
        let isCommandOutput =
            output.map { $0.contains("\n") || event == "test_failed" || event == "proxy_broken" || event == "reload_failed" }
            ?? false
        if let output, !isCommandOutput { line += " output=\(Self.quoted(output))" }
        lock.withLock { _ in
            switch mode {
            case .stderrPlain:
                var text = "\(WallClock.iso8601(WallClock.now().epochSeconds)) \(level.rawValue.uppercased()) \(line)\n"
                if let output, isCommandOutput, !output.isEmpty {
                    for outputLine in output.split(separator: "\n", omittingEmptySubsequences: false) {
                        text += "    | \(outputLine)\n"
                    }
                }
                writeStderr(text)
            case .journal(let socketPath):
                var message = line
                if let output, isCommandOutput, !output.isEmpty { message += "\n" + output }
                var datagram: [UInt8] = []
                Self.append(&datagram, "MESSAGE", message)
                Self.append(&datagram, "PRIORITY", "\(Self.priority(level))")
                Self.append(&datagram, "SYSLOG_IDENTIFIER", "gocd-proxy-sync")
                Self.append(&datagram, "EVENT", event)
                Self.append(&datagram, "GOCD_PROXY_SYNC_EVENT", event)
                for (key, value) in sortedFields {
                    Self.append(&datagram, "GOCD_PROXY_SYNC_" + Self.fieldName(key), "\(value)")
                }
                if !UnixDatagram.send(datagram, to: socketPath) {
                    // Fallback: stderr under systemd is parsed for <N> priority prefixes.
                    var text = ""
                    for part in message.split(separator: "\n", omittingEmptySubsequences: false) {
                        text += "<\(Self.priority(level))>\(part)\n"
                    }
                    writeStderr(text)
                }
            }
        }
    }

    /// Native protocol: `KEY=value\n`, or `KEY\n<le64 length><bytes>\n` when the value has a newline.
    static func append(_ datagram: inout [UInt8], _ key: String, _ value: String) {
        let bytes = Array(value.utf8)
        datagram += Array(key.utf8)
        if bytes.contains(0x0A) {
            datagram.append(0x0A)
            var length = UInt64(bytes.count).littleEndian
            withUnsafeBytes(of: &length) { datagram += $0 }
            datagram += bytes
        } else {
            datagram.append(UInt8(ascii: "="))
            datagram += bytes
        }
        datagram.append(0x0A)
    }

    static func fieldName(_ key: String) -> String {
        String(key.uppercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "_" })
    }

    static func quoted(_ value: String) -> String {
        let plain = value.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
        }
        if !value.isEmpty && plain { return value }
        // JSON string escapes: quotes, backslashes and control characters, one line always.
        return JSON.quote(value)
    }

    func writeStderr(_ text: String) { StandardError.write(text) }
}

/// A swift-log handler writing through a ``LogSink``.
public struct ProxySyncLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let sink: LogSink

    public init(sink: LogSink, level: Logger.Level) {
        self.sink = sink
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        sink.emit(level: event.level, message: event.message.description, metadata: merged)
    }
}
