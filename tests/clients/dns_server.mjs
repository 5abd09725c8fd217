// A DNS server on loopback for the benchmarks (RFC 1035 over UDP, Node's dgram): it answers TXT
// questions from the records published to it and NXDOMAIN for every other name.
// `startDns(port)` resolves to `{ publish(name, value), close() }`.
import dgram from "node:dgram";

const TXT = 16;

export function startDns(port) {
  const records = new Map();
  const socket = dgram.createSocket("udp4");
  socket.on("message", (query, from) => {
    if (query.length < 12 || query[2] & 0x80 || query.readUInt16BE(4) !== 1) return;
    const labels = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString("latin1").toLowerCase());
      at += 1 + query[at];
    }
    at += 1;
    if (at + 4 > query.length) return;
    const name = labels.join(".");
    const values = query.readUInt16BE(at) === TXT ? (records.get(name) ?? []) : [];
    const rcode = records.has(name) ? 0 : 3;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header[2] = 0x84 | (query[2] & 0x01);
    header[3] = 0x80 | rcode;
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(values.length, 6);
    const answers = values.map((value) => {
      const text = Buffer.from(value, "latin1");
      const data = Buffer.concat([Buffer.from([text.length]), text]);
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0);
      fixed.writeUInt16BE(TXT, 2);
      fixed.writeUInt16BE(1, 4);
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(data.length, 10);
      return Buffer.concat([fixed, data]);
    });
    socket.send(Buffer.concat([header, query.subarray(12, at + 4), ...answers]), from.port, from.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "127.0.0.1", () =>
      resolve({
        publish: (name, value) => records.set(name, [...(records.get(name) ?? []), value]),
        close: () => socket.close(),
      }),
    );
  });
}
