import NIOCore
import NIOHTTP1
import NIOPosix

/// The optional HTTP listener (`metrics` in dcrond.json): `GET /metrics` (Prometheus text
/// format), `/healthz` (the process and its scheduling loop are alive) and `/readyz` (this node is
/// active in the pool, or standalone). One event-loop thread; each answer comes from `respond`.
final class MetricsServer: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]

        package init(status: HTTPResponseStatus, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        static func text(_ status: HTTPResponseStatus, _ text: String) -> Response {
            Response(status: status, body: Array((text + "\n").utf8))
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The address actually bound (port 0 picks a free one).
    var boundAddress: String { channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?" }

    /// Binds `host:port` and serves until ``shutdown()``; `respond` gets the path of each GET.
    init(host: String, port: Int, respond: @escaping @Sendable (String) async -> Response) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(RequestHandler(respond: respond))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used on its channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (String) async -> MetricsServer.Response
    private var request: HTTPRequestHead?

    init(respond: @escaping @Sendable (String) async -> MetricsServer.Response) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let keepAlive = head.isKeepAlive
            let version = head.version
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: MetricsServer.Response.self)
            if head.method == .GET || head.method == .HEAD {
                let respond = self.respond
                promise.completeWithTask { await respond(path) }
            } else {
                promise.succeed(.text(.methodNotAllowed, "only GET"))
            }
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                handler.value.write(
                    response,
                    version: version,
                    keepAlive: keepAlive,
                    head: head.method == .HEAD,
                    context: bound.value
                )
            }
        }
    }

    private func write(
        _ response: MetricsServer.Response,
        version: HTTPVersion,
        keepAlive: Bool,
        head: Bool,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
            promise: nil
        )
        if !head {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
