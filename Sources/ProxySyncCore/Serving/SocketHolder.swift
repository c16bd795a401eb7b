/// A process holding a socket, as far as `/proc/PID/fd` shows it to this process.
public struct SocketHolder: Equatable, Sendable, CustomStringConvertible {
    public var pid: Int32
    /// The short name of the process (`/proc/PID/comm`).
    public var name: String

    public init(pid: Int32, name: String) {
        self.pid = pid
        self.name = name
    }

    public var description: String { "\(name) (pid \(pid))" }
}
