import ProxySyncCore

/// The real ``ApacheModuleLister``: the proxy's program with the test command's options and `-M`.
public struct CommandApacheModuleLister: ApacheModuleLister {
    let settings: ProxySettings

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    public func loadedModules() -> String? {
        guard let argv = ProxyDump.programCommand(settings) else { return nil }
        return CommandRunner.runBlocking(argv + ["-M"], timeoutSeconds: settings.commandTimeoutSeconds).output
    }
}
