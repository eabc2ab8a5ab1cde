import Crypto
import Foundation
import GuildCore
import GuildGateway
import Hummingbird
import HTTPTypes
import NIOCore

/// The stylesheet, the script and the icon sprite, served by the gateway itself under a path
/// that holds a hash of their content (`/assets/<hash>/guild.css`), so they are cached for a
/// year and a new version is a new path.
struct Assets: Sendable {
    struct Asset: Sendable {
        let name: String
        let hash: String
        let contentType: String
        let bytes: ByteBuffer
        var path: String { "/assets/\(hash)/\(name)" }
    }

    let byName: [String: Asset]

    /// Each asset's path by a template-friendly key (`guild_css`, `guild_js`, `icons_svg`).
    var paths: [String: String] {
        var paths: [String: String] = [:]
        for asset in byName.values {
            paths[asset.name.replacingOccurrences(of: ".", with: "_")] = asset.path
        }
        return paths
    }

    static let types = ["css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"]

    static func load(bundle: Bundle = .module) throws -> Assets {
        guard let directory = bundle.url(forResource: "assets", withExtension: nil) else {
            throw GuildError(.failedPrecondition, "The web front end's assets are missing from its resources.")
        }
        var byName: [String: Asset] = [:]
        for url in try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) {
            guard let type = types[url.pathExtension] else { continue }
            let data = try Data(contentsOf: url)
            let hash = SHA256.hash(data: data).prefix(6).map { String(format: "%02x", $0) }.joined()
            byName[url.lastPathComponent] = Asset(name: url.lastPathComponent, hash: hash, contentType: type, bytes: ByteBuffer(bytes: data))
        }
        return Assets(byName: byName)
    }

    func mount(on router: Router<GatewayRequestContext>) {
        router.get("/assets/:hash/:name") { request, context in
            guard let name = context.parameters.get("name"), let asset = byName[name] else { throw HTTPError(.notFound) }
            let etag = "\"\(asset.hash)\""
            // An old hash gets today's file, but not for a year.
            let current = context.parameters.get("hash") == asset.hash
            var headers: HTTPFields = [
                .contentType: asset.contentType, .eTag: etag, .xContentTypeOptions: "nosniff",
                .cacheControl: current ? "public, max-age=31536000, immutable" : "no-cache",
            ]
            if request.headers[values: .ifNoneMatch].contains(where: { $0.contains(etag) }) {
                headers[.contentType] = nil
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.bytes))
        }
    }
}
