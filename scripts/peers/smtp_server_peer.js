// nodemailer's smtp-server (npm) as a real peer for smtpspec: an SMTP server the way a
// Node.js project builds one from the package.
//
// Usage: node smtp_server_peer.js --listen 127.0.0.1:25259 --dir DIR [--profile FILE]
//
// scenarios/targets/smtp-server.yaml launches it for `smtpspec run --target`; with
// --profile it also writes a target profile for a server started by hand. The package
// comes from ${SMTPSPEC_PEERS:-/opt/smtpspec-peers}/node (scripts/peers/install.sh).
//
// Configured as the package's README and option list suggest for a small receiving
// server, and nothing more; every other option keeps the package's default (so no
// ENHANCEDSTATUSCODES, DSN or REQUIRETLS, 10 unauthenticated commands at most, a
// 60 s idle timeout):
// - name smtp-server.peers.test; alice@ and postmaster@ exist, other recipients get
//   550 5.1.1 from onRcptTo (the one policy decision, so that the catalogue's
//   unknown-recipient cases apply);
// - disableReverseLookup: no DNS lookup of the client (the package's default does
//   one, which delays the greeting and asks a resolver a test peer has no need of);
// - STARTTLS with a self-signed certificate made with openssl on first start (without
//   key and cert the package uses a built-in certificate whose key is public);
// - authOptional, AUTH PLAIN and LOGIN for alice / wonderland, usable after STARTTLS
//   only (the package's default: it lists AUTH before TLS too, and answers 538 there);
// - size 10 MiB; a message over it is refused with 552 in onData, as the README's
//   SIZE example does (the package only checks the SIZE= of MAIL by itself);
// - every accepted message stored exactly as the data stream delivers it, one file
//   per message, written in DIR/Maildir/tmp, fsynced, then renamed into
//   DIR/Maildir/new before the 250, so that expect_stored can look.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const DOMAIN = "smtp-server.peers.test";
const USERS = { alice: "wonderland" };
const KNOWN = new Set([`alice@${DOMAIN}`, `postmaster@${DOMAIN}`, "postmaster"]);
const SIZE = 10 * 1024 * 1024;

function load() {
  const peers = process.env.SMTPSPEC_PEERS || "/opt/smtpspec-peers";
  for (const dir of [path.join(peers, "node", "node_modules", "smtp-server"), "smtp-server"]) {
    try {
      return require(dir);
    } catch (e) {
      // try the next place
    }
  }
  console.error("smtp-server is not installed: run scripts/peers/install.sh");
  process.exit(2);
}

function args() {
  const out = { listen: "127.0.0.1:25259" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!["listen", "dir", "profile"].includes(key) || argv[i + 1] === undefined) {
      console.error(`usage: smtp_server_peer.js --listen HOST:PORT --dir DIR [--profile FILE] (at ${argv[i]})`);
      process.exit(2);
    }
    out[key] = argv[i + 1];
  }
  if (!out.dir) {
    console.error("smtp_server_peer.js: --dir is required");
    process.exit(2);
  }
  return out;
}

function certificate(dir) {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  if (!fs.existsSync(cert)) {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
      "-subj", `/CN=${DOMAIN}`, "-keyout", key, "-out", cert], { stdio: "ignore" });
  }
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
}

// The mailbox an address names, for the lookup in KNOWN: the package hands the address
// over as received, and a quoted local part ("postmaster"@...) names the same mailbox
// as the unquoted one (RFC 5321 §4.1.2). Local parts are matched without case.
function mailbox(address) {
  const at = address.lastIndexOf("@");
  let local = at < 0 ? address : address.slice(0, at);
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(local);
  if (quoted) local = quoted[1].replace(/\\(.)/g, "$1");
  return (local + (at < 0 ? "" : address.slice(at))).toLowerCase();
}

function smtpError(code, message) {
  const err = new Error(message);
  err.responseCode = code;
  return err;
}

const { SMTPServer } = load();
const opts = args();
const [host, port] = [opts.listen.slice(0, opts.listen.lastIndexOf(":")), Number(opts.listen.slice(opts.listen.lastIndexOf(":") + 1))];
fs.mkdirSync(opts.dir, { recursive: true });
const maildir = path.resolve(opts.dir, "Maildir");
for (const sub of ["tmp", "new", "cur"]) {
  fs.mkdirSync(path.join(maildir, sub), { recursive: true });
}
if (opts.profile) {
  fs.writeFileSync(opts.profile,
    `address: ${opts.listen}\ndomain: ${DOMAIN}\nrcpt: alice@${DOMAIN}\n` +
    `bad_rcpt: nosuchuser@${DOMAIN}\nuser: alice\npassword: wonderland\nmaildir: ${maildir}\n`);
}

let count = 0;
const server = new SMTPServer({
  name: DOMAIN,
  disableReverseLookup: true,
  ...certificate(opts.dir),
  authOptional: true,
  size: SIZE,
  onAuth(auth, session, callback) {
    if (!Object.hasOwn(USERS, auth.username || "") || USERS[auth.username] !== auth.password) {
      return callback(smtpError(535, "Invalid username or password"));
    }
    callback(null, { user: auth.username });
  },
  onRcptTo(address, session, callback) {
    if (!KNOWN.has(mailbox(address.address))) {
      return callback(smtpError(550, "5.1.1 No such user here"));
    }
    callback();
  },
  onData(stream, session, callback) {
    count += 1;
    const name = `${Date.now()}.${process.pid}_${count}.smtp-server`;
    const tmp = path.join(maildir, "tmp", name);
    const fd = fs.openSync(tmp, "w");
    const out = fs.createWriteStream(null, { fd, autoClose: false });
    let failed = false;
    const fail = (err) => {
      if (failed) return;
      failed = true;
      console.error(`store ${tmp}: ${err.message}`);
      stream.unpipe(out);
      stream.resume();
      try { fs.closeSync(fd); fs.unlinkSync(tmp); } catch (e) { /* already gone */ }
      callback(smtpError(451, "Error: local error in processing"));
    };
    out.on("error", fail);
    out.on("finish", () => {
      if (failed) return;
      try {
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        if (stream.sizeExceeded) {
          fs.unlinkSync(tmp);
          return callback(smtpError(552, "Error: message exceeds fixed maximum message size"));
        }
        fs.renameSync(tmp, path.join(maildir, "new", name));
      } catch (err) {
        failed = true;
        console.error(`store ${tmp}: ${err.message}`);
        return callback(smtpError(451, "Error: local error in processing"));
      }
      console.log(`stored ${name} (${stream.byteLength} bytes) from ${session.remoteAddress}`);
      callback(null, "OK: message queued");
    });
    stream.pipe(out);
  },
});
server.on("error", (err) => console.error(`smtp-server: ${err.message}`));
server.listen(port, host, () => console.log(`smtp-server listening on ${opts.listen}, Maildir ${maildir}`));
// Stop on Ctrl-C or SIGTERM (smtpspec stops a launched target so); server.close()
// waits up to 30 s for open connections, more than smtpspec waits before SIGKILL.
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
