/** View state that is not chat data: open panels and dialogs. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { FileInfo, Member, Message } from '../../../shared/api.js';

export type RightPanel = 'members' | 'search' | null;

export interface ModerationRequest {
  action: 'kick' | 'ban';
  /** Room id. */
  room: string;
  member: Member;
}

export const useUiStore = defineStore('ui', () => {
  // The side panel starts open only where it fits beside the conversation (below that it overlays it).
  const rightPanel = ref<RightPanel>(typeof window === 'undefined' || window.innerWidth >= 1000 ? 'members' : null);
  const browseOpen = ref(false);
  /** What "browse rooms" opens filtered by (a name several rooms share, to pick one). */
  const browseFilter = ref('');
  const switcherOpen = ref(false);
  const nickDialogOpen = ref(false);
  const connectOpen = ref(false);
  /** Id of the room whose invite dialog is open. */
  const inviteRoom = ref<string | null>(null);
  const moderation = ref<ModerationRequest | null>(null);
  /** The picture shown full size (ImageViewer). */
  const viewing = ref<FileInfo | null>(null);
  /** The message whose delete is being confirmed, with its conversation's key. */
  const deleting = ref<{ key: string; message: Message } | null>(null);
  /** The edited message whose versions are shown. */
  const historyOf = ref<Message | null>(null);
  /** Bumped to ask the composer to take the focus. */
  const composerFocus = ref(0);

  function togglePanel(panel: Exclude<RightPanel, null>): void {
    rightPanel.value = rightPanel.value === panel ? null : panel;
  }

  function focusComposer(): void {
    composerFocus.value++;
  }

  function openBrowse(filter = ''): void {
    browseFilter.value = filter;
    browseOpen.value = true;
  }

  return {
    rightPanel,
    browseOpen,
    browseFilter,
    switcherOpen,
    nickDialogOpen,
    connectOpen,
    inviteRoom,
    moderation,
    viewing,
    deleting,
    historyOf,
    composerFocus,
    togglePanel,
    focusComposer,
    openBrowse,
  };
});
