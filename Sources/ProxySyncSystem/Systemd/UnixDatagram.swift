import Glibc

/// Sends one datagram to an AF_UNIX socket path (a leading `@` means the abstract namespace).
enum UnixDatagram {
    static func send(_ bytes: [UInt8], to path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, length) }
            }
        }
        return sent == bytes.count
    }
}

/// sd_notify over `$NOTIFY_SOCKET`; does nothing when it is unset.
public struct SystemdNotifier: Sendable {
    let socketPath: String?

    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isActive: Bool { socketPath != nil }

    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let socketPath else { return false }
        return UnixDatagram.send(Array(state.utf8), to: socketPath)
    }

    /// STATUS, with READY and a watchdog ping when asked, in one datagram; nothing is built without a socket.
    public func report(status: String, ready: Bool, watchdog: Bool) {
        guard socketPath != nil else { return }
        notify((ready ? "READY=1\n" : "") + (watchdog ? "WATCHDOG=1\n" : "") + "STATUS=\(Self.oneLine(status))")
    }
    public func watchdog() { notify("WATCHDOG=1") }
    public func reloading(monotonicMicroseconds: UInt64) { notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds)") }
    public func stopping() { notify("STOPPING=1") }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
