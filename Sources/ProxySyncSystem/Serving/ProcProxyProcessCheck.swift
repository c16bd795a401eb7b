import Glibc
import ProxySyncCore

/// The real ``ProxyProcessCheck``: the processes in `/proc`, judged by ``ProxyProcess``.
public struct ProcProxyProcessCheck: ProxyProcessCheck {
    let kind: ProxyKind

    public init(kind: ProxyKind) {
        self.kind = kind
    }

    public func proxyRunning() -> Bool? {
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        let names = ProxyProcess.names(kind)
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let pid = Int32(name) else { continue }
            // Only a process with the proxy's name is looked at further (its state and owner).
            let command = ListeningSockets.processName(pid)
            guard names.contains(command) else { continue }
            if ProxyProcess.isRunningProxy(
                name: command, zombie: ListeningSockets.isZombie(pid), realUID: ListeningSockets.realUID(pid), kind: kind)
            {
                return true
            }
        }
        return false
    }
}
