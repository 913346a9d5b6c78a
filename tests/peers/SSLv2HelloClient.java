// A TLS 1.2 client that opens with an SSLv2-format ClientHello (Java's
// "SSLv2Hello" pseudo-protocol), the peer the integration suite uses for
// test_sslv2_client_hello.py. Test-only: it trusts any certificate.
// Run as: java SSLv2HelloClient.java HOST PORT CIPHER < data
import java.io.InputStream;
import java.io.OutputStream;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public class SSLv2HelloClient {
    public static void main(String[] args) throws Exception {
        TrustManager[] trustAll = { new X509TrustManager() {
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
            public void checkClientTrusted(X509Certificate[] chain, String type) {}
            public void checkServerTrusted(X509Certificate[] chain, String type) {}
        } };
        SSLContext context = SSLContext.getInstance("TLSv1.2");
        context.init(null, trustAll, new SecureRandom());
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(args[0], Integer.parseInt(args[1]))) {
            socket.setEnabledProtocols(new String[] { "SSLv2Hello", "TLSv1.2" });
            socket.setEnabledCipherSuites(new String[] { args[2] });
            socket.startHandshake();
            System.out.println("Protocol: " + socket.getSession().getProtocol());
            System.out.println("Cipher: " + socket.getSession().getCipherSuite());
            System.out.flush();
            OutputStream out = socket.getOutputStream();
            InputStream in = System.in;
            byte[] buf = new byte[16384];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            out.flush();
        }
    }
}
