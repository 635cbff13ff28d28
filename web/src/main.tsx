// main.tsx - the web app's entry: mounts <App/> and registers the service worker that keeps
// the app itself (HTML, scripts, styles) on this device so it opens without a network.
import { createRoot } from 'react-dom/client'
import { App } from './App'
import './styles.css'

createRoot(document.getElementById('root') as HTMLElement).render(<App />)

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  void navigator.serviceWorker.register('/sw.js').catch(() => {})
}
