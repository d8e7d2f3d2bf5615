import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { createApiClient } from './api/client';
import { useSyncStore } from './stores/sync';
import './assets/main.css';

const app = createApp(App);
const pinia = createPinia();
app.use(pinia);

const client = createApiClient();
useSyncStore(pinia).init(client);

// Keep the session token out of the address bar (it stays in sessionStorage for reloads).
if (client.kind === 'ws' && new URLSearchParams(location.search).has('token')) {
  history.replaceState(null, '', location.pathname + location.hash);
}

app.mount('#app');
