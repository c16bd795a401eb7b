import ArgumentParser
import Glibc
import ProxySyncCore
import ProxySyncSystem

/// Validates the setup, one line per check: `ok: …` or `FAIL: …`.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the config, credentials, GoCD reachability and authorization, and the proxy commands.")

    @OptionGroup var options: CommonOptions

    final class Report {
        /// The exit code of the first failing line (README: Exit codes): 2 config, credentials, commands or
        /// directories; 3 GoCD; 4 site URLs that would be rejected.
        var firstFailure: ExitStatus?

        func reject(_ text: String) {
            print("FAIL: \(text)")
            if firstFailure == nil { firstFailure = .rejected }
        }

        func ok(_ text: String) { print("ok: \(text)") }
        func fail(_ text: String, gocd: Bool = false) {
            print("FAIL: \(text)")
            if firstFailure == nil { firstFailure = gocd ? .gocdError : .usage }
        }
    }

    func run() async throws {
        _ = options.bootstrapLogging()
        let report = Report()
        let bootstrap: Bootstrap
        do {
            bootstrap = try Bootstrap(configOption: options.config)
            report.ok("config file \(bootstrap.configPath)")
        } catch {
            report.fail("config file: \(error)")
            throw ExitCode(.usage)
        }
        let settings = bootstrap.settings
        if !settings.gocd.tlsVerify { print("warning: tls_verify = false: GoCD's certificate is not checked") }
        if let warning = Bootstrap.otherSitesWarning(settings.proxy) { print("warning: \(warning)") }
        let client: CurlClient
        let auth: CurlOptions.Auth
        do {
            let made = try bootstrap.makeSource()
            client = made.1
            auth = made.2
            report.ok("credentials: \(auth.kind.rawValue)")
        } catch {
            report.fail("credentials: \(error)")
            throw ExitCode(.usage)
        }
        await checkGoCD(settings: settings, client: client, auth: auth, report: report)
        for (name, argv) in [("test", settings.proxy.testCommand), ("reload", settings.proxy.reloadCommand)] {
            if let path = CommandRunner.resolve(argv[0]) {
                report.ok("\(name) command found: \(path)")
            } else {
                report.fail("\(name) command \(argv[0]) not found in PATH (set proxy.\(name)_command)")
            }
        }
        if let command = settings.proxy.certificateCommand {
            if let problem = PathSafety.problem(forCommand: command[0]) {
                report.fail("certificate_command \(command[0]): \(problem)")
            } else {
                report.ok("certificate_command \(command[0]): an executable only root can change")
            }
        }
        if settings.proxy.checkOtherSites {
            if let dump = ProxyDump.command(settings.proxy) {
                if let path = CommandRunner.resolve(dump[0]) {
                    report.ok("dump command found: \(path) (\(dump.joined(separator: " ")))")
                } else {
                    report.fail("dump command \(dump[0]) not found in PATH (set proxy.dump_command)")
                }
            } else {
                report.fail(
                    "no dump command: test_command does not start with the proxy's own program; set proxy.dump_command (the proxy's configuration dump) or check_other_sites = false"
                )
            }
        }
        checkCertificate(settings.proxy, report: report)
        checkCertificateDirectory(settings.proxy, report: report)
        if settings.proxy.hasCertificate { report.ok("TLS profile \(settings.proxy.tlsProfile.summary)") }
        if settings.proxy.kind == .apache {
            switch LiveServingCheck(settings: settings.proxy).missingApacheModules() {
            case let missing? where !missing.isEmpty: report.fail(ApacheModules.advice(missing))
            case _?: report.ok("Apache modules loaded: \(ApacheModules.required(settings.proxy).joined(separator: ", "))")
            case nil: print("warning: could not list Apache's modules (httpd -M) from the test command")
            }
        }
        if settings.proxy.kind == .nginx, !settings.proxy.trustedProxies.isEmpty {
            checkRealIP(settings.proxy, report: report)
        }
        checkWritable(directoryOf: settings.proxy.output, what: "output directory", report: report)
        if let unsafe = PathSafety.problem(forOutput: settings.proxy.output) {
            report.fail("output \(settings.proxy.output): \(unsafe)")
        } else {
            report.ok("output path \(settings.proxy.output): only root can change the directories on the way")
        }
        checkStateDirectory(settings.sync.stateDir, report: report)
        checkStagedTest(settings, report: report)
        if let directory = settings.proxy.acmeChallengeDir {
            if let unsafe = PathSafety.problem(forChallengeDirectory: directory) {
                report.fail("acme_challenge_dir \(directory): \(unsafe)")
            } else {
                report.ok("acme_challenge_dir \(directory): only root can place challenge files there")
            }
        }
        if let directory = settings.proxy.tlsCertificateDir {
            if let unsafe = PathSafety.problem(forCertificateDirectory: directory) {
                report.fail("tls_certificate_dir \(directory): \(unsafe)")
            } else {
                report.ok("tls_certificate_dir \(directory): only root can add or change certificates there")
            }
        }
        for include in settings.proxy.includes {
            if let problem = PathSafety.problem(forInclude: include) {
                report.fail("include \(include): \(problem)")
            } else {
                report.ok("include \(include): a regular file only root can change")
            }
        }
        if let code = report.firstFailure { throw ExitCode(code) }
    }

    /// trusted_proxies needs NGINX's realip module (`nginx -V` lists `--with-http_realip_module`).
    func checkRealIP(_ proxy: ProxySettings, report: Report) {
        guard let argv = ProxyDump.programCommand(proxy) else {
            print("warning: trusted_proxies needs NGINX's realip module; could not ask nginx -V from the test command")
            return
        }
        let version = CommandRunner.runBlocking(argv + ["-V"], timeoutSeconds: proxy.commandTimeoutSeconds)
        if version.output.contains("--with-http_realip_module") {
            report.ok("NGINX module for trusted_proxies: realip (built in)")
        } else {
            report.fail("trusted_proxies needs NGINX's realip module, which nginx -V does not list: install an nginx built --with-http_realip_module")
        }
    }

    func checkGoCD(settings: Settings, client: CurlClient, auth: CurlOptions.Auth, report: Report) async {
        switch await client.get(settings.gocd.versionEndpoint, accept: CurlSiteURLSource.accept) {
        case .failure(let error):
            report.fail("GoCD at \(settings.gocd.serverURL): \(error)", gocd: true)
            return
        case .success(let answer):
            if answer.status == 200, let version = (try? JSON.parse(answer.body))?["version"]?.string {
                if Self.isAtLeast(version, major: 19, minor: 11) {
                    report.ok("GoCD \(version) reachable at \(settings.gocd.serverURL)")
                } else {
                    report.fail("GoCD \(version) is older than 19.11 and has no site-URLs API: upgrade GoCD", gocd: true)
                }
            } else if answer.status != 401 && answer.status != 403 {
                report.fail(
                    "GoCD version: HTTP \(answer.status) from \(settings.gocd.versionEndpoint): check that server_url ends in /go",
                    gocd: true)
            }
        }
        let source = CurlSiteURLSource(client: client, settings: settings.gocd, credentials: auth.kind)
        do {
            let urls = try await source.fetchSiteURLs()
            report.ok(
                "authorized for the site-URLs API (site_url=\"\(Escaping.printable(urls.siteURL))\" secure_site_url=\"\(Escaping.printable(urls.secureSiteURL))\")"
            )
            do {
                switch try PlanDeriver.derive(urls, settings: settings.proxy) {
                case .nothingToDerive:
                    print("warning: GoCD has neither site URL set; the daemon will keep the current file")
                case .plan(let derived):
                    report.ok("site URLs accepted: \(derived.listeners.map(SemanticDiff.summary).joined(separator: ", "))")
                    let (plan, _, missing) = derived.locatingCertificates(settings.proxy, with: DirectoryCertificateLocator())
                    var preflight = await LiveServingCheck(settings: settings.proxy).preflight(plan)
                    if settings.proxy.certificateCommand != nil, !missing.isEmpty {
                        // Not a refusal yet: the daemon asks certificate_command for these (README: Obtaining a
                        // certificate).
                        let names = Set(plan.listeners.filter { $0.scheme == .https && plan.certificates[$0.serverName] == nil }.map(\.serverName)).sorted()
                        print(
                            "warning: no certificate in tls_certificate_dir covers \(names.joined(separator: " ")) yet: the daemon runs certificate_command for it"
                        )
                    } else {
                        preflight.refusals = missing + preflight.refusals
                    }
                    if preflight.refusals.isEmpty {
                        report.ok(
                            settings.proxy.checkOtherSites
                                ? "pre-flight: ports, certificate and other sites allow this plan"
                                : "pre-flight: ports and certificate allow this plan (other sites not checked)")
                    }
                    for refusal in preflight.refusals { report.reject("pre-flight would refuse \(refusal)") }
                }
            } catch {
                report.reject("\(error)")
            }
        } catch {
            report.fail("site-URLs API: \(error)", gocd: true)
        }
    }

    /// Per certificate: the names it covers and its expiry; whether the key belongs to it.
    func checkCertificate(_ proxy: ProxySettings, report: Report) {
        guard let path = proxy.tlsCertificate, let keyPath = proxy.tlsCertificateKey else { return }
        do {
            let certificate = try LoadedCertificate(path: path)
            let names = certificate.names.isEmpty ? "no names" : certificate.names.joined(separator: ", ")
            // Seconds, not days, decide: a certificate that expired an hour ago is EXPIRED, not "in 0 days".
            let left = certificate.notAfterEpochSeconds - WallClock.now().epochSeconds
            let expiry = "expires \(certificate.notAfterISO8601) (\(left <= 0 ? "EXPIRED" : "in \(left / 86_400) days"))"
            if left < CertificatePolicy.expiryWarningSeconds {
                print("warning: certificate \(path) covers \(names); \(expiry): renew it")
            } else {
                report.ok("certificate \(path) covers \(names); \(expiry)")
            }
            if try certificate.matchesKey(at: keyPath) {
                report.ok("key \(keyPath) belongs to the certificate")
            } else {
                report.fail("key \(keyPath) does not belong to the certificate \(path)")
            }
        } catch {
            report.fail("certificate: \(error)")
        }
    }

    /// With `tls_certificate_dir`: each `DIR/*/fullchain.pem`, its names and expiry, and whether its `privkey.pem`
    /// belongs to it (which pair serves which GoCD name is said by the pre-flight line).
    func checkCertificateDirectory(_ proxy: ProxySettings, report: Report) {
        guard let directory = proxy.tlsCertificateDir else { return }
        let found = DirectoryCertificateLocator().scan(directory)
        if found.isEmpty {
            print("warning: tls_certificate_dir \(directory) holds no */fullchain.pem yet: every HTTPS name is refused until one covers it")
        }
        for (entry, _) in found {
            var pair = proxy
            pair.tlsCertificateDir = nil
            pair.tlsCertificate = "\(directory)/\(entry)/fullchain.pem"
            pair.tlsCertificateKey = "\(directory)/\(entry)/privkey.pem"
            checkCertificate(pair, report: report)
        }
    }

    /// The state directory and its backups, held to the output's rules (README: Security model), then writable.
    func checkStateDirectory(_ stateDir: String, report: Report) {
        let backups = stateDir + "/backups"
        if let unsafe = PathSafety.problem(forStateDirectory: stateDir)
            ?? PathSafety.problem(forStateDirectory: backups)
        {
            let advice =
                "or set [sync] state_dir to a directory only root can change (the unit's StateDirectory, /var/lib/gocd-proxy-sync)"
            report.fail("state directory \(stateDir): \(unsafe); \(advice)")
            return
        }
        report.ok("state directory \(stateDir): only root can change it and the directories on the way")
        checkWritable(directory: stateDir, what: "state directory", report: report)
    }

    func checkWritable(directoryOf path: String, what: String, report: Report) {
        var directory = path
        if let slash = directory.lastIndex(of: "/") { directory = String(directory[..<slash]) }
        checkWritable(directory: directory.isEmpty ? "/" : directory, what: what, report: report)
    }

    func checkWritable(directory: String, what: String, report: Report) {
        if access(directory, W_OK) == 0 {
            report.ok("\(what) \(directory) is writable")
        } else if errno == ENOENT && what == "state directory" {
            report.ok("\(what) \(directory) will be created")
        } else {
            report.fail("\(what) \(directory) is not writable: \(String(cString: strerror(errno)))")
        }
    }

    static func isAtLeast(_ version: String, major: Int, minor: Int) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return (parts[0], parts[1]) >= (major, minor)
    }

    /// Whether a new file can be tested before it is live here (a private mount namespace): the same staging a
    /// change uses, with `true` as the test, over the bytes in place. Not a failure where it cannot: the file is
    /// then tested at the live path, as the warning says.
    func checkStagedTest(_ settings: Settings, report: Report) {
        guard PathSafety.problem(forStateDirectory: settings.sync.stateDir) == nil,
            PathSafety.problem(forOutput: settings.proxy.output) == nil
        else { return }
        let bytes = (try? PathSafety.readOutput(settings.proxy.output)).flatMap { $0 } ?? []
        switch StagedConfigTest.run(
            bytes, output: settings.proxy.output, stateDirectory: settings.sync.stateDir, testCommand: ["true"],
            timeoutSeconds: settings.proxy.commandTimeoutSeconds)
        {
        case .tested(let result) where result.succeeded:
            report.ok("a new file is tested before it is live (a private mount namespace shows it to the config test only)")
        case .tested(let result):
            print("warning: the staged config test could not run: \(result.summary) \(result.output)")
        case .unavailable(let why):
            print(
                "warning: a new file cannot be tested before it is live here (\(why)); it is tested at the live path instead (needs CAP_SYS_ADMIN and mount namespaces)"
            )
        }
    }
}
