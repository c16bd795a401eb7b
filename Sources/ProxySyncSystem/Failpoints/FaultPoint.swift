/// Every named fault point of the debug build (``Failpoint``), in one place: `GOCD_PROXY_SYNC_FAILPOINT` takes
/// a ``name``, and the crash campaign (`Tests/crash/campaign.py`) arms them by these names. A test holds the
/// campaign's names to this list, and names the points it leaves out.
public enum FaultPoint: Hashable, Sendable, CaseIterable {
    /// Before and after the previous file is copied to the backup directory.
    case beforeBackup, afterBackup
    /// After a config test returned (staged, or over the live configuration).
    case afterTest
    /// After the reload command returned.
    case afterReload
    /// After the confirmation of what is served returned.
    case afterConfirm
    /// A step of an atomic write of one of the daemon's files.
    case write(WrittenFile, WriteStep)

    /// The files the daemon writes atomically, by the label their fault points carry.
    public enum WrittenFile: String, Sendable, CaseIterable {
        /// The managed site file.
        case output
        /// `state.json`.
        case state
        /// The staged copy the config test reads before anything is at the live path.
        case staged
        /// A backup of the previous file.
        case backup
        /// The metrics textfile and the live record (published for readers; renamed, not fsynced).
        case metrics, live

        /// The steps its write passes: a published file is not fsynced.
        public var steps: [WriteStep] {
            switch self {
            case .metrics, .live: [.afterTempWrite, .afterRename]
            case .output, .state, .staged, .backup: WriteStep.allCases
            }
        }
    }

    /// The steps of an atomic write, in order.
    public enum WriteStep: String, Sendable, CaseIterable {
        case afterTempWrite = "after-temp-write"
        case afterFsync = "after-fsync"
        case afterRename = "after-rename"
        case afterDirFsync = "after-dir-fsync"
    }

    public static var allCases: [FaultPoint] {
        [.beforeBackup, .afterBackup, .afterTest, .afterReload, .afterConfirm]
            + WrittenFile.allCases.flatMap { file in file.steps.map { .write(file, $0) } }
    }

    /// The name `GOCD_PROXY_SYNC_FAILPOINT` arms.
    public var name: String {
        switch self {
        case .beforeBackup: "before-backup"
        case .afterBackup: "after-backup"
        case .afterTest: "after-test"
        case .afterReload: "after-reload"
        case .afterConfirm: "after-confirm"
        case .write(let file, let step): "\(file.rawValue)-\(step.rawValue)"
        }
    }
}
