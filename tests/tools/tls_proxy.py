"""A TLS-terminating TCP proxy for the Kafka tests (Python's ssl module, i.e. OpenSSL: a TLS
implementation independent of the client's rustls).

    tls_proxy.py LISTEN_PORT UPSTREAM_PORT CERT KEY [CLIENT_CA]

Accepts TLS on 127.0.0.1:LISTEN_PORT with CERT/KEY, requiring a client certificate signed
by CLIENT_CA when given, and relays the decrypted bytes to 127.0.0.1:UPSTREAM_PORT.
"""

import asyncio
import ssl
import sys


async def relay(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        writer.close()


async def main():
    listen, upstream, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if len(sys.argv) > 5:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[5])

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(relay(client_reader, up_writer), relay(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, ssl=context)
    async with server:
        await server.serve_forever()


asyncio.run(main())
