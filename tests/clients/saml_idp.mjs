// A SAML 2.0 identity provider for the sign-in tests, built on samlify, on 127.0.0.1 and a free
// port: its metadata (samlify's IdentityProvider, a fresh RSA key and self-signed certificate from
// node-forge), its HTTP-Redirect sign-on endpoint (the service provider's AuthnRequest parsed by
// samlify against the SP's own metadata, fetched from its entity ID, and answered with a signed
// Response posted to the SP's assertion consumer service by a self-submitting form), sign-in
// started here (IdP-initiated), and crafted answers for the attack tests.
// Prints one line, {"url", "entity_id", "metadata"}, once listening; runs until stdin (a pipe)
// closes, or SIGTERM.
//   POST /__test/user {"email", "name", "name_id"}: who signs in next (by default ana@acme.example).
//   POST /__test/response {acs, sp, in_response_to, audience, recipient, destination, email,
//     name_id, name_id_format, issuer, sign: "assertion" | "response" | "both" | "none", not_on_or_after (seconds
//     from now, default 300), not_before (seconds from now, default -60), assertion_id}:
//     {"saml_response": base64, "xml": the signed XML}.
//   GET /initiate?sp=<the SP's metadata URL>&relay_state=…: IdP-initiated sign-in (no InResponseTo).
import { fstatSync } from "node:fs";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { inflateRawSync } from "node:zlib";

console.info = console.log = (...a) => console.error(...a);

const { default: samlify } = await import("samlify");
const { default: forge } = await import("node-forge");

// This provider trusts the service provider's messages (a test fixture); the SP is what is tested.
samlify.setSchemaValidator({ validate: async () => "skipped" });

const REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

function selfSigned() {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = "01" + randomBytes(8).toString("hex");
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  const name = [{ name: "commonName", value: "Ovation test IdP" }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(cert) };
}

const { key, cert } = selfSigned();
// The certificate's body, as samlify's signing takes it (no PEM lines).
const certBody = cert.replace(/-----[^-]+-----|\s/g, "");
let user = { email: "ana@acme.example", name: "Ana Lima", name_id: "ana@acme.example" };

const escape = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
const iso = (offsetSeconds) => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
const newId = () => "_" + randomBytes(20).toString("hex");

/// A Response holding one Assertion, signed as `sign` says.
function response(o) {
  const now = iso(0);
  const irt = o.in_response_to ? ` InResponseTo="${escape(o.in_response_to)}"` : "";
  const destination = o.destination === null ? "" : ` Destination="${escape(o.destination ?? o.acs)}"`;
  const assertionId = o.assertion_id ?? newId();
  const until = iso(o.not_on_or_after ?? 300);
  const xml =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${newId()}" Version="2.0" IssueInstant="${now}"${destination}${irt}>` +
    `<saml:Issuer>${escape(o.issuer ?? entityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    `<saml:Assertion ID="${escape(assertionId)}" Version="2.0" IssueInstant="${now}">` +
    `<saml:Issuer>${escape(o.issuer ?? entityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${escape(o.name_id_format ?? EMAIL_FORMAT)}">${escape(o.name_id ?? o.email)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData NotOnOrAfter="${until}" Recipient="${escape(o.recipient ?? o.acs)}"${irt}/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${iso(o.not_before ?? -60)}" NotOnOrAfter="${until}">` +
    `<saml:AudienceRestriction><saml:Audience>${escape(o.audience ?? o.sp)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now}" SessionIndex="${escape(assertionId)}"><saml:AuthnContext>` +
    `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
    `</saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement>` +
    `<saml:Attribute Name="email"><saml:AttributeValue>${escape(o.email)}</saml:AttributeValue></saml:Attribute>` +
    `<saml:Attribute Name="name"><saml:AttributeValue>${escape(o.name ?? "")}</saml:AttributeValue></saml:Attribute>` +
    `</saml:AttributeStatement></saml:Assertion></samlp:Response>`;
  return signed(xml, o.sign ?? "assertion");
}

function signed(xml, how) {
  const sign = (raw, reference, after, whole) =>
    samlify.SamlLib.constructSAMLSignature({
      rawSamlMessage: raw,
      referenceTagXPath: whole ? undefined : reference,
      isMessageSigned: whole,
      privateKey: key,
      signingCert: certBody,
      isBase64Output: false,
      signatureConfig: { prefix: "ds", location: { reference: after, action: "after" } },
    });
  const assertion = "/*[local-name(.)='Response']/*[local-name(.)='Assertion']";
  let out = xml;
  if (how === "assertion" || how === "both") out = sign(out, assertion, `${assertion}/*[local-name(.)='Issuer']`, false);
  if (how === "response" || how === "both") out = sign(out, null, "/*[local-name(.)='Response']/*[local-name(.)='Issuer']", true);
  return out;
}

/// The service provider, from its metadata (its entity ID is its metadata's URL).
async function serviceProvider(metadataUrl) {
  const metadata = await (await fetch(metadataUrl)).text();
  return samlify.ServiceProvider({ metadata });
}

function postForm(acs, samlResponse, relayState) {
  const relay = relayState ? `<input type="hidden" name="RelayState" value="${escape(relayState)}">` : "";
  return `<!doctype html><html lang="en"><head><title>Signing in</title></head><body>` +
    `<form method="post" action="${escape(acs)}"><input type="hidden" name="SAMLResponse" value="${samlResponse}">${relay}` +
    `<noscript><button type="submit">Continue</button></noscript></form>` +
    `<script>document.forms[0].submit()</script></body></html>`;
}

const body = (req) =>
  new Promise((done) => {
    let text = "";
    req.on("data", (c) => (text += c)).on("end", () => done(text));
  });

let entityId;
let idp;
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, entityId);
    if (req.method === "GET" && url.pathname === "/metadata") {
      res.writeHead(200, { "content-type": "application/samlmetadata+xml" }).end(idp.getMetadata());
    } else if (req.method === "GET" && url.pathname === "/sso") {
      // The AuthnRequest, parsed by samlify as its SP's metadata says.
      const request = inflateRawSync(Buffer.from(url.searchParams.get("SAMLRequest"), "base64")).toString("utf8");
      const issuer = /<(?:\w+:)?Issuer[^>]*>([^<]+)</.exec(request)[1];
      const sp = await serviceProvider(issuer);
      const parsed = await idp.parseLoginRequest(sp, "redirect", { query: Object.fromEntries(url.searchParams) });
      const acs = sp.entityMeta.getAssertionConsumerService("post");
      const xml = response({ ...user, acs: Array.isArray(acs) ? acs[0] : acs, sp: issuer, in_response_to: parsed.extract.request.id });
      res.writeHead(200, { "content-type": "text/html" }).end(
        postForm(Array.isArray(acs) ? acs[0] : acs, Buffer.from(xml).toString("base64"), url.searchParams.get("RelayState")),
      );
    } else if (req.method === "GET" && url.pathname === "/initiate") {
      const spUrl = url.searchParams.get("sp");
      const sp = await serviceProvider(spUrl);
      const acs = [sp.entityMeta.getAssertionConsumerService("post")].flat()[0];
      const xml = response({ ...user, acs, sp: spUrl });
      res.writeHead(200, { "content-type": "text/html" }).end(
        postForm(acs, Buffer.from(xml).toString("base64"), url.searchParams.get("relay_state")),
      );
    } else if (req.method === "POST" && url.pathname === "/__test/user") {
      user = { ...user, ...JSON.parse(await body(req)) };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(user));
    } else if (req.method === "POST" && url.pathname === "/__test/response") {
      const xml = response(JSON.parse(await body(req)));
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({ saml_response: Buffer.from(xml).toString("base64"), xml }),
      );
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    console.error(e);
    res.writeHead(500, { "content-type": "text/plain" }).end(String(e && e.stack ? e.stack : e));
  }
});

server.listen(0, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  entityId = `${base}/metadata`;
  idp = samlify.IdentityProvider({
    entityID: entityId,
    signingCert: cert,
    privateKey: key,
    wantAuthnRequestsSigned: false,
    nameIDFormat: [EMAIL_FORMAT],
    singleSignOnService: [{ Binding: REDIRECT, Location: `${base}/sso` }],
  });
  process.stdout.write(JSON.stringify({ url: base, entity_id: entityId, metadata: entityId }) + "\n");
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on("end", stop).on("close", stop).resume();
}
