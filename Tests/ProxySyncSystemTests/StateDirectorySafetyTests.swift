import Glibc
import ProxySyncCore
import Testing

@testable import ProxySyncSystem

/// `[sync] state_dir` and `<state_dir>/backups` held to the output's rules; the lock, `state.json` and the
/// backups never opened or written through a link (README: Security model).
@Suite(.serialized) struct StateDirectorySafetyTests {
    /// A fresh directory of root's (mkdtemp: 0700), removed afterwards.
    func withScratch(_ body: (String) throws -> Void) rethrows {
        var template = Array("/tmp/state-dir-safety.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let dir = String(cString: made!)
        defer { _ = system("rm -rf '\(dir)'") }
        try body(dir)
    }

    func write(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Posix.writeAll(fd, Array(text.utf8))
        close(fd)
    }

    func contents(_ path: String) -> String? {
        (try? Posix.readRegularFile(path, maxBytes: 1 << 20)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func aMissingStateDirBelowRootOnlyDirectoriesIsFine() {
        withScratch { dir in
            #expect(PathSafety.problem(forStateDirectory: dir + "/state") == nil)
            #expect(PathSafety.problem(forStateDirectory: dir + "/a/b/state") == nil)
            mkdir(dir + "/state", 0o750)
            #expect(PathSafety.problem(forStateDirectory: dir + "/state") == nil)
        }
    }

    @Test func aParentOthersCanWriteIsRefusedUnlessSticky() {
        withScratch { dir in
            mkdir(dir + "/open", 0o755)
            chmod(dir + "/open", 0o777)
            let problem = PathSafety.problem(forStateDirectory: dir + "/open/state")
            #expect(problem?.contains("\(dir)/open is writable by group or others (mode 777)") == true)
            #expect(problem?.contains("chmod go-w \(dir)/open") == true)
            // Sticky (as /tmp): a root-owned state directory below it is safe, and so is creating one.
            chmod(dir + "/open", 0o1777)
            #expect(PathSafety.problem(forStateDirectory: dir + "/open/state") == nil)
            mkdir(dir + "/open/state", 0o750)
            #expect(PathSafety.problem(forStateDirectory: dir + "/open/state") == nil)
        }
    }

    @Test func theStateDirItselfMustBeWritableByRootOnlyEvenWhenSticky() {
        withScratch { dir in
            mkdir(dir + "/state", 0o750)
            chmod(dir + "/state", 0o1777)
            let problem = PathSafety.problem(forStateDirectory: dir + "/state")
            #expect(problem?.contains("\(dir)/state is writable by group or others (mode 1777)") == true)
            chmod(dir + "/state", 0o770)
            #expect(PathSafety.problem(forStateDirectory: dir + "/state")?.contains("mode 770") == true)
        }
    }

    @Test(.enabled(if: geteuid() == 0)) func aParentAnotherUserOwnsIsRefused() {
        withScratch { dir in
            mkdir(dir + "/theirs", 0o755)
            chown(dir + "/theirs", 65534, 65534)
            let problem = PathSafety.problem(forStateDirectory: dir + "/theirs/state")
            #expect(problem?.contains("\(dir)/theirs is owned by uid 65534, not root") == true)
            #expect(problem?.contains("chown root \(dir)/theirs") == true)
            #expect(throws: StoreError.self) { try PathSafety.prepareStateDirectory(dir + "/theirs/state") }
            #expect(access(dir + "/theirs/state", F_OK) != 0, "never created below it")
        }
    }

    @Test(.enabled(if: geteuid() == 0)) func aLinkOnTheWayCountsOnlyWhenRootOwnsIt() {
        withScratch { dir in
            mkdir(dir + "/real", 0o750)
            symlink(dir + "/real", dir + "/link")
            #expect(PathSafety.problem(forStateDirectory: dir + "/link") == nil)
            #expect(PathSafety.problem(forStateDirectory: dir + "/link/backups") == nil)
            lchown(dir + "/link", 65534, 65534)
            #expect(
                PathSafety.problem(forStateDirectory: dir + "/link/backups")?.contains(
                    "\(dir)/link is a symbolic link owned by uid 65534") == true)
        }
    }

    @Test(.enabled(if: geteuid() == 0)) func anIncludeOrProgramBehindALinkSomeoneElseOwnsIsRefused() {
        // The link's owner could point it elsewhere between the check and the proxy reading the include (or the
        // spawn of certificate_command): only a root-owned link on the way is followed.
        withScratch { dir in
            mkdir(dir + "/real", 0o755)
            write("add_header X-Operator one;\n", to: dir + "/real/site.conf")
            write("#!/bin/sh\n", to: dir + "/real/get-cert")
            chmod(dir + "/real/get-cert", 0o755)
            symlink(dir + "/real", dir + "/link")
            #expect(PathSafety.problem(forInclude: dir + "/link/site.conf") == nil)
            #expect(PathSafety.problem(forCommand: dir + "/link/get-cert") == nil)
            lchown(dir + "/link", 65534, 65534)
            #expect(
                PathSafety.problem(forInclude: dir + "/link/site.conf")?.contains(
                    "\(dir)/link is a symbolic link owned by uid 65534") == true)
            #expect(
                PathSafety.problem(forCommand: dir + "/link/get-cert")?.contains(
                    "\(dir)/link is a symbolic link owned by uid 65534") == true)
        }
    }

    @Test func aLinkAtTheLockIsRefusedAndItsTargetUntouched() {
        withScratch { dir in
            mkdir(dir + "/state", 0o750)
            write("theirs\n", to: dir + "/target")
            symlink(dir + "/target", dir + "/state/lock")
            #expect {
                _ = try StateLock(stateDir: dir + "/state")
            } throws: { error in
                "\(error)".contains("refusing to open the lock \(dir)/state/lock: it is a symbolic link")
            }
            #expect(contents(dir + "/target") == "theirs\n")
            unlink(dir + "/state/lock")
            symlink(dir + "/created", dir + "/state/lock")
            #expect(throws: StateLock.Failure.self) { _ = try StateLock(stateDir: dir + "/state") }
            #expect(access(dir + "/created", F_OK) != 0, "a dangling link creates nothing at its target")
        }
    }

    @Test func aLinkAtStateJSONIsReadAsDamageAndReplacedOnSave() throws {
        try withScratch { dir in
            mkdir(dir + "/state", 0o750)
            write("{}\n", to: dir + "/target.json")
            symlink(dir + "/target.json", dir + "/state/state.json")
            let store = JSONStateStore(stateDir: dir + "/state")
            #expect(store.loadIfPresent()?.damage?.problem.contains("is a symbolic link, which is never followed") == true)
            try store.save(SyncState())
            var info = stat()
            #expect(lstat(dir + "/state/state.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG)
            #expect(contents(dir + "/target.json") == "{}\n")
        }
    }

    @Test func backupsAreRegularFilesInARootOnlyDirectory() throws {
        try withScratch { dir in
            let store = FileConfigStore(output: dir + "/site.conf", stateDir: dir + "/state")
            let path = try store.backup(Array("old\n".utf8))
            var info = stat()
            #expect(lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_mode & 0o777 == 0o600)
            #expect(lstat(dir + "/state/backups", &info) == 0 && info.st_mode & 0o777 == 0o700)
            chmod(dir + "/state/backups", 0o777)
            #expect(throws: StoreError.self) { _ = try store.backup(Array("old\n".utf8)) }
        }
    }
}
