import Glibc
import ProxySyncCore

/// TCP sockets in the LISTEN state on this host (this network namespace), read from `/proc/net/tcp{,6}`,
/// and the programs holding them, read from `/proc/PID/fd` where the kernel lets this process look.
///
/// - Important: `/proc/net/tcp` is readable by anyone, but another process's descriptors are visible only
///   to a process with the same credentials and capabilities or `CAP_SYS_PTRACE`. The unit does not grant
///   `CAP_SYS_PTRACE`, so under systemd the holder of a socket is often unknown; callers then fall back on
///   what the proxy's own configuration says it listens on.
public struct ListeningSockets: SocketTableReader {
    public init() {}

    /// The listening TCP sockets on `ports`. The tables are read whole, line by line (a host, or a local user,
    /// may have tens of thousands of sockets), keeping only the ports asked about.
    public func listening(on ports: Set<Int>) -> [ListeningSocket] {
        var out: [ListeningSocket] = []
        for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
            Self.forEachLine(path) { line in
                if let socket = SocketTable.parseLine(line, v6: v6), ports.contains(socket.port) { out.append(socket) }
            }
        }
        return out
    }

    /// Calls `body` with every line of a /proc file, without a size cap and without holding it all.
    static func forEachLine(_ path: String, _ body: (Substring) -> Void) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            if let last = pending.lastIndex(of: 0x0A) {
                let text = String(decoding: pending[...last], as: UTF8.self)
                for line in text.split(separator: "\n") { body(line) }
                pending.removeSubrange(...last)
            }
        }
        if !pending.isEmpty { body(Substring(String(decoding: pending, as: UTF8.self))) }
    }

    /// The processes holding socket `inode`, as far as `/proc` shows them.
    public func holders(of inodes: Set<UInt64>) -> [UInt64: [SocketHolder]] {
        var found: [UInt64: [SocketHolder]] = [:]
        guard !inodes.isEmpty, let proc = opendir("/proc") else { return found }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let pid = Int32(name) else { continue }
            guard let fds = opendir("/proc/\(pid)/fd") else { continue }
            var matched: Set<UInt64> = []
            while let fd = readdir(fds) {
                let fdName = withUnsafeBytes(of: fd.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                guard fdName.first?.isNumber == true else { continue }
                var link = [CChar](repeating: 0, count: 64)
                let length = readlink("/proc/\(pid)/fd/\(fdName)", &link, link.count - 1)
                guard length > 9 else { continue }
                let target = String(decoding: link[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard target.hasPrefix("socket:["), let inode = UInt64(target.dropFirst(8).dropLast()) else { continue }
                if inodes.contains(inode) { matched.insert(inode) }
            }
            closedir(fds)
            if matched.isEmpty { continue }
            let holder = SocketHolder(pid: pid, name: Self.processName(pid))
            for inode in matched { found[inode, default: []].append(holder) }
        }
        return found
    }

    /// The short name of a process (`/proc/PID/comm`).
    public static func processName(_ pid: Int32) -> String {
        var name = readSmall("/proc/\(pid)/comm") ?? "?"
        while name.hasSuffix("\n") { name.removeLast() }
        return name
    }

    /// Whether a process has exited and waits to be reaped (state `Z` in `/proc/PID/stat`, after the name).
    public static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = readSmall("/proc/\(pid)/stat", cap: 4096), let close = stat.lastIndex(of: ")") else {
            return false
        }
        return stat[stat.index(after: close)...].drop(while: { $0 == " " }).first == "Z"
    }

    /// The real uid of a process (`Uid:` in `/proc/PID/status`), nil when it cannot be read.
    public static func realUID(_ pid: Int32) -> UInt32? {
        guard let status = readSmall("/proc/\(pid)/status", cap: 16384) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
        }
        return nil
    }

    /// Reads a small text file from /proc (no size in stat, so read to the end, capped).
    static func readSmall(_ path: String, cap: Int = 4 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while out.count < cap {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            out.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
