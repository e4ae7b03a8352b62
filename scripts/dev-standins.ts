// The SMTP sink and the OpenAI-compatible model stand-in as one long-running process, for the
// Kubernetes dev loop (k8s/dev-standins.yaml, built by skaffold from the Dockerfile's dev-standins stage).
import { startModelStandin, startSmtpSink } from '@securevault/testing';

const host = process.env.STANDINS_HOST ?? '0.0.0.0';
const smtpPort = Number(process.env.SMTP_PORT ?? '1025');
const viewerPort = Number(process.env.MAIL_VIEWER_PORT ?? '8025');
const modelPort = Number(process.env.MODEL_PORT ?? '8089');

const smtp = await startSmtpSink({ host, port: smtpPort, httpPort: viewerPort });
const model = await startModelStandin({ host, port: modelPort });
process.stdout.write(
  `${JSON.stringify({ level: 'info', msg: 'dev stand-ins ready', smtpPort: smtp.port, viewerPort: smtp.httpPort, modelPort: model.port })}\n`,
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void Promise.all([smtp.close(), model.close()]).then(() => process.exit(0));
  });
}
