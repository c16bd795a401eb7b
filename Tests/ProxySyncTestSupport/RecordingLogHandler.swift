import Logging
import Synchronization

/// A log handler that keeps every record in memory, for tests that assert what an operator would read.
public struct RecordingLogHandler: LogHandler {
    public struct Record: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
        public var event: String? { metadata["event"] }
    }

    /// The records, shared by every copy of the handler.
    public final class Records: Sendable {
        private let storage = Mutex<[Record]>([])
        public init() {}
        public var all: [Record] { storage.withLock { $0 } }
        func append(_ record: Record) { storage.withLock { $0.append(record) } }
        /// The records of one event at or above `level`.
        public func of(_ event: String, atLeast level: Logger.Level = .trace) -> [Record] {
            all.filter { $0.event == event && $0.level >= level }
        }
    }

    public let records: Records
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(records: Records, level: Logger.Level = .trace) {
        self.records = records
        self.logLevel = level
    }

    /// A logger at `level` whose records land in the returned store.
    public static func logger(level: Logger.Level = .trace) -> (Logger, Records) {
        let records = Records()
        var logger = Logger(label: "test") { _ in RecordingLogHandler(records: records, level: level) }
        logger.logLevel = level
        return (logger, records)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        records.append(Record(level: level, message: message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
