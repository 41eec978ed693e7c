/** The server-made QR code as an image (an <img> never runs script, unlike inline SVG). */
function svgDataUrl(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

/** An enrollment QR code (authenticator app, Tessera Authenticator), at the size phones scan well. */
export function QrCode({ svg, alt }: { svg: string; alt: string }) {
  return (
    <div className="qr">
      <img src={svgDataUrl(svg)} alt={alt} width={224} height={224} />
    </div>
  );
}
