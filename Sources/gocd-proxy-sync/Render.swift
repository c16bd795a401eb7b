import ArgumentParser
import ProxySyncCore
import ProxySyncSystem

/// Prints the file that would be written; offline with `--site-url`.
struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the proxy file that would be written (offline with --site-url/--secure-site-url).")

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Render for this site URL instead of asking GoCD.")
    var siteURL: String?

    @Option(name: .long, help: "Render for this secure site URL instead of asking GoCD.")
    var secureSiteURL: String?

    func run() async throws {
        let logger = options.bootstrapLogging()
        let bootstrap = try options.load(logger)
        let urls: SiteURLs
        if siteURL != nil || secureSiteURL != nil {
            urls = SiteURLs(siteURL: siteURL ?? "", secureSiteURL: secureSiteURL ?? "")
        } else {
            let source: CurlSiteURLSource
            do {
                (source, _, _) = try bootstrap.makeSource()
            } catch {
                logger.error("invalid configuration", metadata: ["event": Event.configInvalid.value, "error": "\(error)"])
                throw ExitCode(.usage)
            }
            do {
                urls = try await source.fetchSiteURLs()
            } catch {
                logger.error("GoCD did not answer with site URLs", metadata: ["event": Event.gocdError.value, "error": "\(error)"])
                throw ExitCode(.gocdError)
            }
        }
        do {
            switch try PlanDeriver.derive(urls, settings: bootstrap.settings.proxy) {
            case .nothingToDerive:
                logger.warning("both site URLs are unset: nothing to render", metadata: ["event": Event.unchanged.value])
            case .plan(let derived):
                for warning in derived.warnings { logger.warning("\(warning)") }
                let (plan, proxySettings, missing) = derived.locatingCertificates(
                    bootstrap.settings.proxy, with: DirectoryCertificateLocator())
                // Offline: what the certificate pre-flight would refuse is only a warning here.
                let certificates = LiveServingCheck(settings: bootstrap.settings.proxy).certificateFindings(plan)
                for refusal in missing + certificates.refusals {
                    logger.warning(
                        "a sync would refuse this plan: \(refusal)", metadata: ["event": Event.rejected.value, "listener": "\(refusal.listener)"])
                }
                for notice in certificates.notices {
                    logger.warning("\(notice.message)", metadata: ["event": notice.event.value])
                }
                print(try Renderers.make(for: proxySettings).render(plan), terminator: "")
            }
        } catch let rejection as SiteURLRejection {
            logger.error(
                "site URL rejected",
                metadata: [
                    "event": Event.rejected.value, "field": "\(rejection.field)", "value": "\(rejection.value)",
                    "reason": "\(rejection.reason)",
                ])
            throw ExitCode(.rejected)
        } catch {
            logger.error("refusing to render", metadata: ["event": Event.rejected.value, "reason": "\(error)"])
            throw ExitCode(.rejected)
        }
    }
}
