// Send the smtpspec client-test message with nodemailer, the common way: one transport,
// sendMail with an explicit envelope and the raw message. Mode (argv[2]): plain,
// tls-required (requireTLS, the certificate checked against the run's CA in SMTPSPEC_CA),
// auth, or auth-tls (both). Values come from the SMTPSPEC_* environment. Exit 0 when the server took the message, 1 otherwise.
const fs = require("fs");
const path = require("path");

function load() {
  const peers = process.env.SMTPSPEC_PEERS || "/opt/smtpspec-peers";
  for (const dir of [path.join(peers, "node", "node_modules", "nodemailer"), "nodemailer"]) {
    try {
      return require(dir);
    } catch (e) {
      // try the next place
    }
  }
  console.error("nodemailer is not installed: run scripts/peers/install.sh");
  process.exit(2);
}

const nodemailer = load();
const env = process.env;
const mode = process.argv[2] || "plain";
const tls = mode === "tls-required" || mode === "auth-tls";
const options = {
  host: env.SMTPSPEC_HOST,
  port: Number(env.SMTPSPEC_PORT),
  secure: false,
  name: env.SMTPSPEC_HELO,
  ignoreTLS: !tls,
  requireTLS: tls,
  // Certificates are checked, as nodemailer does by default, against the test CA that
  // smtpspec made for the run.
  tls: env.SMTPSPEC_CA ? { ca: [fs.readFileSync(env.SMTPSPEC_CA)] } : {},
  connectionTimeout: 5000,
  greetingTimeout: 5000,
  socketTimeout: 5000,
};
if (mode === "auth" || mode === "auth-tls") {
  options.auth = { user: env.SMTPSPEC_USER, pass: env.SMTPSPEC_PASSWORD };
}
const transport = nodemailer.createTransport(options);
transport
  .sendMail({
    envelope: { from: env.SMTPSPEC_FROM, to: [env.SMTPSPEC_TO] },
    raw: fs.readFileSync(env.SMTPSPEC_MESSAGE),
  })
  // No process.exit(): whatever the transport does after the callback (nodemailer
  // 10 closes the socket without QUIT) happens before Node exits by itself.
  .then((info) => {
    console.log(`nodemailer: ${info.response}`);
    process.exitCode = 0;
  })
  .catch((e) => {
    console.error(`nodemailer: ${e.message}`);
    process.exitCode = 1;
  });
